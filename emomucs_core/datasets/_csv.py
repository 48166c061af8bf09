"""Small CSV helpers shared by the adapters: tolerant headers, errors naming the file."""

from __future__ import annotations

import csv
from pathlib import Path

from .clip import DatasetError


def read_rows(path: Path, required: list[str]) -> list[dict[str, str]]:
    """Rows of a CSV as dicts with stripped header names and values.

    Raises :class:`DatasetError` naming ``path`` when it is missing or lacks a
    column of ``required``.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            raise DatasetError(f"{path}: empty file (no header)")
        names = [n.strip() for n in reader.fieldnames]
        missing = [c for c in required if c not in names]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {missing} (found {names})")
        rows = []
        for raw in reader:
            rows.append({(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None})
        return rows


def to_float(value: str, path: Path, line: int, column: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DatasetError(f"{path}:{line}: {column} is not a number ({value!r})") from None


def audio_present(audio: Path, table: Path, line: int, require: bool) -> bool:
    """Whether ``audio`` exists; a missing one raises :class:`DatasetError` naming the row when ``require``."""
    if audio.is_file():
        return True
    if require:
        raise DatasetError(f"{table}:{line}: audio {audio} not found")
    return False
