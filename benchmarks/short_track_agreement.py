"""How often a 10-s excerpt of a clip lands in the same quadrant as its 20-s excerpt.

For every clip of a 4Q-layout folder (``Q1``..``Q4`` sub-folders of audio files),
cuts the 20 s around the clip's centre and the 10 s around the same centre,
writes both as WAV to a temporary folder and predicts each with the built-in
model (one window each). A 10-s file is shorter than the 20-s model window, so
this measures the short-track rule of the code that is importable
(``emomucs_core`` on ``PYTHONPATH``). The quadrant is read from valence and
arousal (each above or below 0.5), as the plugin's mood is.

    python benchmarks/short_track_agreement.py DATA --out runs.jsonl [--reuse-20 old.jsonl]

One JSON line per clip goes to ``--out`` as it finishes (a partial run can be
summarised with ``--summary runs.jsonl``); ``--reuse-20`` takes the 20-s
predictions of an earlier run instead of computing them again. Clips are taken
in quadrant-interleaved order, so a partial run stays balanced.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from itertools import zip_longest
from pathlib import Path

EXTENSIONS = (".mp3", ".wav", ".flac", ".ogg", ".m4a")


def quadrant(valence: float, arousal: float) -> str:
    """Russell quadrant of unit valence and arousal (0.5 neutral)."""
    if arousal >= 0.5:
        return "Q1" if valence >= 0.5 else "Q2"
    return "Q4" if valence >= 0.5 else "Q3"


def clips_of(folder: Path) -> list[Path]:
    """Audio files of the Q1..Q4 folders, interleaved across quadrants."""
    per_quadrant = [sorted(p for p in (folder / q).iterdir() if p.suffix.lower() in EXTENSIONS)
                    for q in ("Q1", "Q2", "Q3", "Q4") if (folder / q).is_dir()]
    return [p for group in zip_longest(*per_quadrant) for p in group if p is not None]


def summarise(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("q20") and r.get("q10")]
    same = sum(r["q20"] == r["q10"] for r in rows)
    print(f"{path}: {same}/{len(rows)} clips ({100 * same / max(1, len(rows)):.1f} %) put the 10-s excerpt "
          "in the quadrant of the 20-s excerpt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="?", help="4Q-layout folder (Q1..Q4 sub-folders)")
    parser.add_argument("--out", type=Path, help="JSON lines, one per clip")
    parser.add_argument("--reuse-20", type=Path, default=None, help="earlier --out: reuse its 20-s predictions")
    parser.add_argument("--summary", type=Path, default=None, help="only summarise this --out file")
    parser.add_argument("--limit", type=int, default=None, help="at most this many clips")
    args = parser.parse_args()
    if args.summary:
        summarise(args.summary)
        return
    if args.data is None or args.out is None:
        parser.error("DATA and --out are needed")

    import soundfile as sf
    import torch

    from emomucs_core.audio import AudioFile
    from emomucs_core.predictor import Predictor

    torch.set_num_threads(1)
    earlier = {}
    if args.reuse_20:
        for line in args.reuse_20.read_text().splitlines():
            row = json.loads(line)
            if row.get("q20"):
                earlier[row["clip"]] = row
    predictor = Predictor(device="cpu", windows=1, threads=1)
    clips = clips_of(args.data)[: args.limit]
    with tempfile.TemporaryDirectory() as tmp, args.out.open("a") as out:
        for clip in clips:
            row = {"clip": str(clip.relative_to(args.data))}
            with AudioFile(clip) as audio:
                centre = audio.duration / 2
                excerpts = {n: audio.read(max(0.0, centre - n / 2), n) for n in (20, 10)}
            wanted = [10] if row["clip"] in earlier else [20, 10]
            files = []
            for n in wanted:
                files.append(Path(tmp) / f"{n}.wav")
                sf.write(files[-1], excerpts[n].T, 44100)
            for n, result in zip(wanted, predictor.predict(files)):
                row[f"v{n}"], row[f"a{n}"], row[f"error{n}"] = result.valence, result.arousal, result.error
                row[f"q{n}"] = quadrant(result.valence, result.arousal) if result.ok else None
            if row["clip"] in earlier:
                row.update({k: earlier[row["clip"]][k] for k in ("v20", "a20", "q20")})
            out.write(json.dumps(row) + "\n")
            out.flush()
    summarise(args.out)


if __name__ == "__main__":
    main()
