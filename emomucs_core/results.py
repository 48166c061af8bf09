"""Result files: one record per analysed file, as JSON lines or Parquet, written as results arrive.

A record is ``Prediction.to_dict()``: ``path`` is an absolute path string, ``error``
a one-line reason or null. Two formats, chosen by the name of the output:

- ``*.jsonl`` (any other name too): one JSON object per line, appended and flushed
  per batch. A last line without its newline (torn by a killed run) is ignored
  on reading and cut off before the next append.
- ``*.parquet``: a directory of Parquet parts, one per batch, each written to a
  temporary name and renamed, so a killed run leaves only whole parts. pyarrow,
  pandas, Ray, Spark and DuckDB read the directory as one table. Nested fields
  (``contributions``, ``windows``, lists) are JSON text columns; :func:`iter_results`
  decodes them, so both formats give the same records.

Resuming: :func:`pending_paths` drops the inputs that already have a record
(errors included) and the writer appends to what is there.
"""

from __future__ import annotations

import json
import os
import time
import types
import typing
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .constants import AUDIO_EXTENSIONS

#: Parquet schema metadata key listing the columns that hold JSON text.
_JSON_COLUMNS_KEY = b"emomucs.json_columns"


@dataclass
class RunSummary:
    """Counts of one run: files analysed now (``ok`` + ``errors``) and files already in the output."""

    ok: int = 0
    errors: int = 0
    skipped: int = 0


class ResultsError(Exception):
    """A result file that cannot be read; the message names the file and the reason."""


def is_parquet(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".parquet"


def collect_inputs(paths: Iterable[str | Path], *, absolute: bool = True) -> list[Path]:
    """Paths of the files to analyse: files as given, directories walked for audio files.

    Absolute paths, or with ``absolute=False`` the paths as given (a relative folder's
    files relative to where it is). Directory contents are sorted; a path listed twice
    is kept once. Paths that do not exist, cannot be looked at (inside a folder that
    cannot be read) and folders that cannot be read are kept, so that they get an error record.
    """
    seen: dict[Path, None] = {}
    for given in paths:
        path = Path(os.path.abspath(given)) if absolute else Path(given)
        if _is_dir(path):
            for root, dirs, files in os.walk(path, onerror=lambda exc: seen.update({Path(exc.filename): None})):
                dirs.sort()
                seen.update((Path(root) / f, None) for f in sorted(files) if Path(f).suffix.lower() in AUDIO_EXTENSIONS)
        else:
            seen[path] = None
    return list(seen)


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; False when it cannot be looked at (it fails later, with its reason)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def iter_results(path: str | Path) -> Iterator[dict]:
    """Records of a result file (JSON lines, or a Parquet file or directory), in file order."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: no such result file")
    yield from (_iter_parquet(path) if is_parquet(path) else _iter_jsonl(path))


def done_paths(path: str | Path) -> set[str]:
    """Paths that already have a record in the result file at ``path`` (empty when it does not exist)."""
    if not Path(path).exists():
        return set()
    return {record["path"] for record in iter_results(path)}


def pending_paths(inputs: Iterable[Path], out: str | Path) -> list[Path]:
    """The inputs that have no record in ``out`` yet, in order."""
    done = done_paths(out)
    return [p for p in inputs if str(p) not in done]


def _iter_jsonl(path: Path) -> Iterator[dict]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):  # torn by a killed writer (even if it parses): the writer cuts it
                return
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ResultsError(f"{path}: line {number} is not a JSON object") from None
            if not isinstance(record, dict) or "path" not in record:
                raise ResultsError(f"{path}: line {number} is not a result record (no 'path')")
            yield record


def _iter_parquet(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    parts = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    for part in parts:
        try:
            table = pq.read_table(part)
        except Exception as exc:
            raise ResultsError(f"{part}: not a readable Parquet file ({exc})".splitlines()[0]) from None
        meta = table.schema.metadata or {}
        json_columns = set(json.loads(meta.get(_JSON_COLUMNS_KEY, b"[]")))
        for row in table.to_pylist():
            yield {k: json.loads(v) if k in json_columns and v is not None else v for k, v in row.items()}


class ResultWriter:
    """Appends records to a JSON-lines file or a Parquet directory; every :meth:`write` is durable
    against a killed process (flushed, or a whole renamed part).

    Use as a context manager. Records are ``Prediction.to_dict()`` dicts.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.parquet = is_parquet(self.path)
        self._handle = None

    def __enter__(self) -> ResultWriter:
        if self.parquet:
            if self.path.exists() and not self.path.is_dir():
                raise ResultsError(f"{self.path}: a Parquet file exists; Parquet output is a directory of parts")
            self.path.mkdir(parents=True, exist_ok=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _cut_torn_line(self.path)
            self._handle = self.path.open("a", encoding="utf-8")
        return self

    def write(self, records: list[dict]) -> None:
        """Append ``records`` (one batch) and make them durable before returning."""
        if not records:
            return
        if self.parquet:
            self._write_part(records)
            return
        self._handle.write("".join(json.dumps(r, allow_nan=False) + "\n" for r in records))
        self._handle.flush()

    def _write_part(self, records: list[dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema, nested = _parquet_schema(records)
        rows = [{k: json.dumps(v) if k in nested and v is not None else v for k, v in r.items()} for r in records]
        table = pa.Table.from_pylist(rows, schema=schema)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"  # sorts in write order
        temporary = self.path / f".{name}.tmp"
        pq.write_table(table, temporary)
        os.replace(temporary, self.path / name)

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.close()


def _cut_torn_line(path: Path) -> None:
    """Truncate a JSON-lines file after its last newline (a killed writer may have left half a line)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        block, end = 4096, size
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            chunk = handle.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                handle.truncate(start + newline + 1)
                return
            end = start
        handle.truncate(0)


def _parquet_schema(records: list[dict]):
    """Arrow schema of a batch of records and the names of its JSON text columns.

    Column types follow the ``Prediction`` field types, so every part has the same
    schema whatever its values (an all-error batch has float columns of nulls).
    """
    import pyarrow as pa

    from .prediction import Prediction

    hints = typing.get_type_hints(Prediction)
    arrow = {float: pa.float64(), int: pa.int64(), bool: pa.bool_()}
    fields, nested = [], set()
    for key in dict.fromkeys(k for r in records for k in r):
        kind = _plain_type(hints.get(key)) or type(next((r[key] for r in records if r.get(key) is not None), ""))
        if kind in (list, dict):
            nested.add(key)
        fields.append(pa.field(key, arrow.get(kind, pa.string())))
    return pa.schema(fields, metadata={_JSON_COLUMNS_KEY: json.dumps(sorted(nested)).encode()}), nested


def _plain_type(hint) -> type | None:
    """``float`` for ``float | None``, ``list`` for ``list[str]``, ...; None when there is no hint."""
    if hint is None:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and args:
        hint = args[0]
    return typing.get_origin(hint) or hint
