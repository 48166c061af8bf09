"""Throughput of the built-in model (offline separator) over a folder of tracks.

Runs the predictor with its defaults (3 windows of 20 s per track) over every
audio file in FOLDER (default: 10 generated 30-s songs), after one warm-up
track (numba compilation), and prints tracks per minute and peak RSS.

    python benchmarks/bench_default_model.py [FOLDER] [--limit 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", help="tracks to analyse (searched recursively)")
    parser.add_argument("--limit", type=int, default=20, help="at most this many tracks")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()

    import torch

    from emomucs_core.predictor import Predictor
    from emomucs_core.testing import AUDIO_EXTENSIONS, synth_music, write_audio

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.folder is None:
            files = [write_audio(Path(tmp) / f"song{i}.flac", synth_music(30, 44100, seed=i), 44100) for i in range(10)]
        else:
            files = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)[: args.limit]
        predictor = Predictor(device="cpu")
        predictor.predict_one(files[0])  # warm-up
        start = time.perf_counter()
        results = list(predictor.predict(files))
        elapsed = time.perf_counter() - start
    ok = sum(r.ok for r in results)
    print(f"model {predictor.bundle.id}, separator {predictor.separator.id}, {args.threads} torch threads")
    print(f"{ok}/{len(results)} tracks in {elapsed:.1f} s: {elapsed / len(results):.2f} s per track, "
          f"{60 * len(results) / elapsed:.1f} tracks per minute; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
