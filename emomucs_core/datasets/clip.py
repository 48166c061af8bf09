"""The unit every dataset adapter returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..quadrants import quadrant_of  # noqa: F401  (re-exported for the adapters)


class DatasetError(Exception):
    """A dataset that cannot be read; the message names the file and the reason."""


@dataclass(frozen=True)
class Clip:
    """One annotated audio clip.

    path : audio file.
    valence, arousal : targets in [0, 1], 0.5 neutral (for 4Q: 0.0 or 1.0, class labels).
    artist : performer, used to group folds so no artist is in train and test; None if unknown.
    id : dataset-wide identifier (file stem or the dataset's own id).
    quadrant : Russell quadrant ``Q1`` (V+A+), ``Q2`` (V-A+), ``Q3`` (V-A-), ``Q4`` (V+A-), or None.
    """

    path: Path
    valence: float
    arousal: float
    artist: str | None
    id: str
    quadrant: str | None = None

    @property
    def group(self) -> str:
        """Grouping key for cross-validation: the artist, else the id."""
        return f"artist:{self.artist}" if self.artist else f"id:{self.id}"
