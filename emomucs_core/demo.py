"""The README's first command: tag a throwaway beets library with the built-in model.

    python -m emomucs_core.demo [--keep [DIR]] [--seconds S]

Generates a handful of short songs (synthetic, so the project may ship them),
imports them as-is into a new beets library with the emomucs plugin enabled
(automatic tagging on import), then lists them with their emotion fields and
runs a ``valence:0.5..`` query. beets is driven through its ``beet`` command,
as a user would. The library is deleted at the end unless ``--keep`` is given
(``make demo DEMO_ARGS=--keep``); then the demo says where it is and the ``beet``
command that looks at it.
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


def beet_command(config: Path) -> str:
    """How a user runs beets on the demo library: ``beet -c CONFIG``, with the path of this
    environment's ``beet`` when the one on ``PATH`` is another (or there is none)."""
    exe = Path(sys.executable).with_name("beet")
    on_path = shutil.which("beet")
    name = "beet" if not exe.exists() or (on_path and Path(on_path).resolve() == exe.resolve()) else str(exe)
    return f"{name} -c {config}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Tag a throwaway beets library with emomucs.")
    parser.add_argument("--keep", nargs="?", type=Path, const=True, default=None, metavar="DIR",
                        help="keep the library (in DIR, or in the temporary folder) and say how to look at it")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each generated song")
    args = parser.parse_args(argv)
    keep = args.keep is not None
    root = args.keep if isinstance(args.keep, Path) else Path(tempfile.mkdtemp(prefix="emomucs-demo-"))
    try:
        songs = make_songs(root / "incoming", seconds=args.seconds)
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
        map_png = root / "map.png" if keep else Path(tempfile.gettempdir()) / "emomucs-demo-map.png"
        beet(config, "emomucs", "--map", str(map_png), "--map-albums")
        print(f"\nthe library on the valence/arousal plane: {map_png}", flush=True)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    if keep:
        print(f"the demo library is kept in {root}; look at it with\n"
              f"  {beet_command(config)} ls -f '$title  valence $valence  arousal $arousal  mood $mood'", flush=True)
    else:
        print(f"the demo library in {root} was removed (make demo DEMO_ARGS=--keep keeps it)", flush=True)

if __name__ == "__main__":
    main()
