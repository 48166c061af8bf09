"""``beet emomucs --from-results FILE``: store results computed elsewhere (``emomucs predict --json``, Ray).

The file holds one record per analysed file (``Prediction.to_dict()``), read
by :func:`emomucs_core.results.iter_results`: JSON lines, or the Ray engine's
Parquet parts when the name ends in ``.parquet`` (needs pyarrow). Records are
matched to library items by path only (normalised as beets normalises paths,
nothing guessed); a matched record is stored with the plugin's own code,
exactly as a local run stores a prediction.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emomucs_core.constants import SOURCES

from .albums import update_albums
from .fields import DEFAULT_FIELDS, value_without_album
from .output import result_line, track_name
from .storing import apply
from .writing import write_item_tags

#: Records stored per database transaction.
TRANSACTION_SIZE = 200


def check_record(data: dict[str, Any], sources: tuple[str, ...]) -> str | None:
    """Why a record cannot be stored (a one-line reason), or None when it is sound.

    An error record is sound (it is reported, not stored). A result needs an
    absolute path, a model id, valence and arousal in [0, 1], and finite numeric
    contributions of known sources: wrong values must never be stored quietly.
    """
    if not isinstance(data.get("path"), str) or not os.path.isabs(data["path"]):
        return f"path {data.get('path')!r} is not absolute"
    if data.get("error") is not None:
        return None
    if not isinstance(data.get("model_id"), str) or not data["model_id"]:
        return "no model id"
    for key in ("valence", "arousal"):
        value = data.get(key)
        if not _number(value) or not 0.0 <= value <= 1.0:
            return f"{key} is {value!r}, not a number in [0, 1]"
    contributions = data.get("contributions") or {}
    if not isinstance(contributions, dict):
        return "contributions are not a mapping"
    for source, values in contributions.items():
        if source not in sources:
            return f"contribution of an unknown source {source!r}"
        if not isinstance(values, dict) or not all(_number(values.get(d)) for d in ("valence", "arousal")):
            return f"contribution of {source} is not two numbers"
    dominant = data.get("dominant_source")
    if dominant is not None and dominant not in contributions:
        return f"dominant source {dominant!r} has no contribution"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def to_prediction(data: dict[str, Any]):
    """A :class:`emomucs_core.predictor.Prediction` from a checked record (unknown keys dropped)."""
    from emomucs_core.prediction import Prediction

    known = {f.name for f in dataclasses.fields(Prediction)}
    kwargs = {k: v for k, v in data.items() if k in known}
    kwargs["path"] = Path(data["path"])
    return Prediction(**kwargs)


@dataclass
class IngestReport:
    """What an ingest did; each list holds ``(where or path, reason)`` pairs for the log."""

    stored: int = 0
    unmatched: list[str] = field(default_factory=list)  # record paths matching no item of the query
    errors: list[tuple[str, str]] = field(default_factory=list)  # error records (path, error)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # unusable records (number from 1, reason)
    refused: dict[str, int] = field(default_factory=dict)  # other model id -> records refused
    repeated: int = 0  # records for a path already seen in this file (the later one wins)
    write_failures: int = 0


def ingest(
    plugin,
    lib,
    items,
    records: Iterable[dict[str, Any]],
    *,
    force: bool = False,
    write: bool = False,
    pretend: bool = False,
) -> IngestReport:
    """Store ``records`` into the matching ``items`` with ``plugin``'s own code; return what happened.

    plugin : the EmoMucs plugin (its field names, tag options and model id).
    items : the library items the records may update (the command's query).
    force : store results from another model id than the configured one.
    write : also write the file tags; pretend : print what would be stored, change nothing.
    """
    from beets import util

    by_path = {item.path: item for item in items}
    model_id = plugin.model_id
    report = IngestReport()
    seen: set[bytes] = set()
    albums: set[int | None] = set()
    try:
        for chunk in _chunks(enumerate(records, 1), TRANSACTION_SIZE):
            with lib.transaction():
                for number, data in chunk:
                    problem = check_record(data, SOURCES)
                    if problem:
                        report.invalid.append((number, problem))
                        continue
                    key = util.normpath(data["path"])
                    report.repeated += key in seen
                    seen.add(key)
                    if data.get("error") is not None:
                        report.errors.append((data["path"], str(data["error"])))
                    elif data["model_id"] != model_id and not force:
                        report.refused[data["model_id"]] = report.refused.get(data["model_id"], 0) + 1
                    elif key not in by_path:
                        report.unmatched.append(data["path"])
                    else:
                        _store(plugin, by_path[key], to_prediction(data), report, write=write, pretend=pretend)
                        albums.add(by_path[key].album_id)
    finally:
        if not pretend:
            update_albums(plugin, lib, albums)
    return report


def _store(plugin, item, prediction, report: IngestReport, *, write: bool, pretend: bool) -> None:
    """Store one prediction into ``item`` (and its file's tags when ``write``), in a local run's order."""
    from beets import ui

    report.stored += 1
    if pretend:
        old = {key: value_without_album(item, plugin.fields[key]) for key in DEFAULT_FIELDS}
        ui.print_(result_line(plugin.fields, track_name(item), prediction, old))
        return
    apply(plugin.fields, item, prediction)
    if write and not write_item_tags(plugin, item):
        report.write_failures += 1
    item.store()  # after the file is whole, as a local run does


def _chunks(iterable, size: int) -> Iterator[list]:
    chunk = []
    for element in iterable:
        chunk.append(element)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
