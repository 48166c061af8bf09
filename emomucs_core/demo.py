"""The README's first command: tag a throwaway beets library with the built-in model.

    python -m emomucs_core.demo [--keep DIR]

Generates a handful of short songs (synthetic, so the project may ship them),
imports them as-is into a new beets library with the emomucs plugin enabled
(automatic tagging on import), then lists them with their emotion fields and
runs a ``valence:0.5..`` query. beets is driven through its ``beet`` command,
as a user would.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .testing import synth_song, write_audio

#: (file name, title, tempo BPM, mode, energy 0-1: level, brightness, drums)
SONGS = [
    ("sunny_day.flac", "Sunny Day", 138, "major", 0.9),
    ("slow_rain.mp3", "Slow Rain", 62, "minor", 0.1),
    ("night_drive.ogg", "Night Drive", 110, "minor", 0.7),
    ("lullaby.m4a", "Lullaby", 70, "major", 0.05),
    ("march.flac", "Brass March", 120, "major", 1.0),
    ("elegy.mp3", "Elegy", 56, "minor", 0.0),
]


def make_songs(folder: Path, seconds: float = 30.0) -> list[Path]:
    """Write the demo songs with title/artist/album tags into ``folder``."""
    import mutagen

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (name, title, tempo, mode, energy) in enumerate(SONGS):
        root = 196.0 if mode == "minor" else 261.6
        audio = synth_song(seconds, 44100, tempo=tempo, root_hz=root, mode=mode, energy=energy, seed=i)
        path = write_audio(folder / name, audio, 44100)
        tags = mutagen.File(path, easy=True)
        if tags.tags is None:
            tags.add_tags()
        tags["title"], tags["artist"], tags["album"] = title, "emomucs demo", "Demo Songs"
        tags["tracknumber"] = str(i + 1)
        tags.save()
        paths.append(path)
    return paths


def beet(config: Path, *args: str, quiet: bool = False) -> str:
    """Run ``beet -c config args``; echo the command and its standard output unless ``quiet``."""
    exe = Path(sys.executable).with_name("beet")
    cmd = [str(exe) if exe.exists() else "beet", "-c", str(config), *args]
    if not quiet:
        print("$ beet " + " ".join(f"'{a}'" if " " in a or "$" in a else a for a in args), flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.stdout.strip() and not quiet:
        print(out.stdout.rstrip(), flush=True)
    if out.returncode != 0:  # beets' own notices (database backups on a new library) only on failure
        print(out.stderr.rstrip(), file=sys.stderr)
        raise SystemExit(f"beet {' '.join(args)} failed with status {out.returncode}")
    return out.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Tag a throwaway beets library with emomucs.")
    parser.add_argument("--keep", type=Path, help="build the library in this folder and keep it")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="emomucs-demo-"))
    try:
        songs = make_songs(root / "incoming")
        config = root / "config.yaml"
        config.write_text(
            f"directory: {root / 'music'}\n"
            f"library: {root / 'library.db'}\n"
            "plugins: emomucs\n"
            "import:\n  write: yes\n  copy: no\n"
            "emomucs:\n  auto: yes\n"
        )
        print(f"demo library in {root}: {len(songs)} generated songs (synthesised chords, melody, bass and drums, far from the\n"
              "real music the model was trained on: the values show the machinery, not the model's quality)\n",
              flush=True)
        beet(config, "stats", quiet=True)  # creates the library (beets prints notices on a new one)
        beet(config, "import", "-A", "-q", str(root / "incoming"))
        beet(config, "ls", "-f", "$title  valence $valence  arousal $arousal  mood $mood  dominant $dominant_source")
        beet(config, "ls", "-f", "$title  valence $valence", "valence:0.5..")
        beet(config, "ls", "-f", "$valence  $arousal  $title", "valence+")  # numeric sort
        beet(config, "ls", "-f", "$title  arousal $arousal", "arousal:..0.1")
        beet(config, "ls", "-f", "$title", "mood:calm")  # the mood word is queryable
        beet(config, "ls", "-a", "-f", "$album  valence $valence  arousal $arousal  (means of $emomucs_analysed tracks)")
        beet(config, "emomucs", "--count")
        beet(config, "emomucs", "--explain", "title:Sunny Day")  # each source's part, in words
        map_png = root / "map.png" if args.keep else Path(tempfile.gettempdir()) / "emomucs-demo-map.png"
        beet(config, "emomucs", "--map", str(map_png), "--map-albums")
        print(f"\nthe library on the valence/arousal plane: {map_png}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
