"""A plain CSV dataset: ``path,valence,arousal[,artist]`` with values in [0, 1].

Relative paths are resolved against the CSV's folder.
"""

from __future__ import annotations

from pathlib import Path

from ._csv import audio_present, read_rows, to_float
from .clip import Clip, DatasetError, quadrant_of


def load_csv(csv_path: str | Path, require_audio: bool = True) -> list[Clip]:
    """Clips listed in ``csv_path``; ids are the paths as written in the file."""
    csv_path = Path(csv_path)
    rows = read_rows(csv_path, ["path", "valence", "arousal"])
    clips = []
    for line, row in enumerate(rows, start=2):
        audio = Path(row["path"]).expanduser()
        if not audio.is_absolute():
            audio = csv_path.parent / audio
        if not audio_present(audio, csv_path, line, require_audio):
            continue
        v = to_float(row["valence"], csv_path, line, "valence")
        a = to_float(row["arousal"], csv_path, line, "arousal")
        for name, x in (("valence", v), ("arousal", a)):
            if not 0.0 <= x <= 1.0:
                raise DatasetError(f"{csv_path}:{line}: {name} {x} is outside [0, 1]")
        clips.append(Clip(audio, v, a, row.get("artist") or None, row["path"], quadrant_of(v, a)))
    return clips
