"""PMEmo (Zhang et al. 2018) in its own layout.

``<root>/chorus/<musicId>.mp3`` and ``<root>/annotations/static_annotations.csv``
with columns ``musicId, Arousal(mean), Valence(mean)`` already in [0, 1].
PMEmo lists no artist in that file, so clips are grouped by id.
"""

from __future__ import annotations

from pathlib import Path

from ._csv import audio_present, read_rows, to_float
from .clip import Clip, quadrant_of

ANNOTATIONS = Path("annotations") / "static_annotations.csv"


def load_pmemo(root: str | Path, require_audio: bool = True) -> list[Clip]:
    """Clips of PMEmo at ``root`` (the folder holding ``chorus/`` and ``annotations/``).

    Rows whose audio is missing are an error when ``require_audio``, else skipped.
    """
    root = Path(root)
    table = root / ANNOTATIONS
    rows = read_rows(table, ["musicId", "Arousal(mean)", "Valence(mean)"])
    clips = []
    for line, row in enumerate(rows, start=2):
        music_id = row["musicId"]
        audio = root / "chorus" / f"{music_id}.mp3"
        if not audio_present(audio, table, line, require_audio):
            continue
        v = to_float(row["Valence(mean)"], table, line, "Valence(mean)")
        a = to_float(row["Arousal(mean)"], table, line, "Arousal(mean)")
        clips.append(Clip(audio, v, a, None, music_id, quadrant_of(v, a)))
    return clips
