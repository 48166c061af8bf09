"""DEAM (Aljanaki et al. 2017) static annotations.

A CSV with ``song_id, valence_mean, arousal_mean`` on DEAM's 1..9 scale (the
official files have a space after each comma in the header); audio is
``<root>/MEMD_audio/<song_id>.mp3`` unless ``audio_dir`` says otherwise.
Values map to [0, 1] by ``(x - 1) / 8``.
"""

from __future__ import annotations

from pathlib import Path

from ._csv import audio_present, read_rows, to_float
from .clip import Clip, DatasetError, quadrant_of

#: Where DEAM ships the averaged static annotations (songs 1-2000 and 2000-2058), relative to its root.
SONG_LEVEL = Path("annotations") / "annotations averaged per song" / "song_level"
PATTERN = "static_annotations_averaged_songs_*.csv"


def scale_deam(x: float) -> float:
    """DEAM's 1..9 scale to [0, 1] (5 -> 0.5)."""
    return (x - 1.0) / 8.0


def load_deam(
    root: str | Path,
    annotations: str | Path | list[str | Path] | None = None,
    audio_dir: str | Path | None = None,
    require_audio: bool = True,
) -> list[Clip]:
    """Clips of DEAM.

    ``annotations`` (one CSV or several) defaults to DEAM's static CSVs under
    ``root/annotations/...``, else the only ``*.csv`` in ``root``.
    """
    root = Path(root)
    if annotations is None:
        tables = _find_tables(root)
    elif isinstance(annotations, (str, Path)):
        tables = [Path(annotations)]
    else:
        tables = [Path(t) for t in annotations]
    audio_dir = Path(audio_dir) if audio_dir else root / "MEMD_audio"
    clips: list[Clip] = []
    for table in tables:
        clips += _read_table(table, audio_dir, require_audio)
    return clips


def _read_table(table: Path, audio_dir: Path, require_audio: bool) -> list[Clip]:
    rows = read_rows(table, ["song_id", "valence_mean", "arousal_mean"])
    clips = []
    for line, row in enumerate(rows, start=2):
        song = row["song_id"]
        audio = audio_dir / f"{song}.mp3"
        if not audio_present(audio, table, line, require_audio):
            continue
        v = scale_deam(to_float(row["valence_mean"], table, line, "valence_mean"))
        a = scale_deam(to_float(row["arousal_mean"], table, line, "arousal_mean"))
        clips.append(Clip(audio, v, a, None, song, quadrant_of(v, a)))
    return clips


def _find_tables(root: Path) -> list[Path]:
    found = sorted((root / SONG_LEVEL).glob(PATTERN))
    if found:
        return found
    found = sorted(root.glob("*.csv"))
    if len(found) == 1:
        return found
    raise DatasetError(f"{root}: cannot find DEAM's static annotations ({SONG_LEVEL / PATTERN}); pass annotations=")
