"""One track (or album) as the view commands see it: a point on the valence/arousal plane.

The commands ``--explain``, ``--map`` and ``--playlist`` work on these plain
records, built from beets items by :func:`track_point`; they never touch the
database themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emomucs_core.constants import SOURCES

from . import labels
from .fields import DIMENSIONS, ERROR_FIELD, source_field, value_without_album
from .output import track_name, track_names

if TYPE_CHECKING:
    from beets.library import Item

#: Centre (valence, arousal) of each quadrant Q1..Q4 on the unit plane.
QUADRANT_CENTRES = ((0.75, 0.75), (0.25, 0.75), (0.25, 0.25), (0.75, 0.25))


@dataclass
class TrackPoint:
    """A track's emotion values, as stored in the library.

    valence, arousal : 0..1 (0.5 neutral); None when the track has no values of its own.
    contributions : ``{source: {"valence": c, "arousal": c}}``, signed, same unit.
    """

    label: str
    path: str = ""
    artist: str = ""
    title: str = ""
    album: str = ""
    valence: float | None = None
    arousal: float | None = None
    dominant_source: str | None = None
    contributions: dict[str, dict[str, float]] = field(default_factory=dict)
    error: str | None = None
    length: float = 0.0

    @property
    def analysed(self) -> bool:
        return self.valence is not None and self.arousal is not None


def mood_centre(name: str) -> tuple[float, float]:
    """Centre (valence, arousal) of a mood word or quadrant name (``sad`` or ``Q3``, any case)."""
    key = name.strip().lower()
    names = {**{word: n for n, word in enumerate(labels.MOODS)}, **{f"q{n + 1}": n for n in range(4)}}
    if key not in names:
        raise ValueError(f"unknown mood {name!r}: use one of {', '.join(labels.MOODS)} (or Q1..Q4)")
    return QUADRANT_CENTRES[names[key]]


def track_points(plugin, items: Iterable[Item]) -> list[TrackPoint]:
    """:func:`track_point` of each item, named as every line names them (:func:`output.track_names`)."""
    items = list(items)
    names = track_names(items)
    return [track_point(plugin, item, names[item.id]) for item in items]


def track_point(plugin, item: Item, label: str | None = None) -> TrackPoint:
    """The values ``item`` holds itself (never its album's mean), under ``plugin``'s field names.

    label : its name (default :func:`output.track_name`; :func:`track_points` tells copies apart).
    """
    fields = plugin.fields
    contributions = {}
    for source in SOURCES:
        values = {dim: value_without_album(item, source_field(source, dim)) for dim in DIMENSIONS}
        if all(isinstance(v, float) for v in values.values()):
            contributions[source] = values
    return TrackPoint(
        label=label if label is not None else track_name(item),
        path=os.fsdecode(item.path),
        artist=item.artist or "",
        title=item.title or "",
        album=item.album or "",
        valence=value_without_album(item, fields["valence"]),
        arousal=value_without_album(item, fields["arousal"]),
        dominant_source=value_without_album(item, fields["dominant_source"]) or None,
        contributions=contributions,
        error=value_without_album(item, ERROR_FIELD) or None,
        length=float(item.length or 0.0),
    )
