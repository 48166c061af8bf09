"""Dataset adapters (PMEmo, 4Q, DEAM, plain CSV), artist-grouped splits and feature caches.

Every adapter returns a list of :class:`Clip` with valence and arousal in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

from .clip import Clip, DatasetError, quadrant_of
from .csvfile import load_csv
from .deam import load_deam
from .fourq import load_fourq
from .pmemo import load_pmemo
from .splits import group_kfold, inner_split

#: Dataset kinds understood by :func:`load_dataset`.
KINDS = ("pmemo", "4q", "deam", "csv")


def load_dataset(kind: str, root: str | Path) -> list[Clip]:
    """Clips of a dataset: ``kind`` in :data:`KINDS`; ``root`` its folder (for ``csv``, the CSV file).

    Raises :class:`DatasetError` naming the file when something is missing.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: not found")
    kind = kind.lower()
    if kind == "pmemo":
        return load_pmemo(root)
    if kind in ("4q", "fourq"):
        return load_fourq(root)
    if kind == "deam":
        return load_deam(root)
    if kind == "csv":
        return load_csv(root)
    raise DatasetError(f"unknown dataset kind {kind!r} (choose {', '.join(KINDS)})")


__all__ = [
    "Clip", "DatasetError", "KINDS", "group_kfold", "inner_split", "load_csv", "load_dataset",
    "load_deam", "load_fourq", "load_pmemo", "quadrant_of",
]
