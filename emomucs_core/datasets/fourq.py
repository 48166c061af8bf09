"""The 4Q audio emotion dataset (Panda et al. 2018) in its own layout.

``<root>/Q1..Q4/<Song>.mp3``, ``panda_dataset_taffc_annotations.csv``
(``Song, Quadrant``) and ``panda_dataset_taffc_metadata.csv`` (``Song, Artist, ...``).

4Q has quadrant labels only, so targets are class labels: valence 1.0 in Q1
and Q4 (positive) and 0.0 in Q2 and Q3; arousal 1.0 in Q1 and Q2 and 0.0 in
Q3 and Q4. They suit a logistic (binary cross-entropy) head; ``quadrant`` is
kept on each clip.
"""

from __future__ import annotations

from pathlib import Path

from ._csv import audio_present, read_rows
from .clip import Clip, DatasetError

ANNOTATIONS = "panda_dataset_taffc_annotations.csv"
METADATA = "panda_dataset_taffc_metadata.csv"
#: Quadrant -> (valence, arousal) class targets.
TARGETS = {"Q1": (1.0, 1.0), "Q2": (0.0, 1.0), "Q3": (0.0, 0.0), "Q4": (1.0, 0.0)}


def load_fourq(root: str | Path, require_audio: bool = True) -> list[Clip]:
    """Clips of 4Q at ``root``; artists come from the metadata file when present."""
    root = Path(root)
    table = root / ANNOTATIONS
    rows = read_rows(table, ["Song", "Quadrant"])
    artists: dict[str, str] = {}
    if (root / METADATA).is_file():
        artists = {r["Song"]: r["Artist"] for r in read_rows(root / METADATA, ["Song", "Artist"])}
    clips = []
    for line, row in enumerate(rows, start=2):
        song, quadrant = row["Song"], row["Quadrant"].upper()
        if quadrant not in TARGETS:
            raise DatasetError(f"{table}:{line}: unknown quadrant {row['Quadrant']!r} (Q1..Q4)")
        audio = root / quadrant / f"{song}.mp3"
        if not audio_present(audio, table, line, require_audio):
            continue
        valence, arousal = TARGETS[quadrant]
        clips.append(Clip(audio, valence, arousal, artists.get(song) or None, song, quadrant))
    return clips
