"""Cost of the weight-free separators per 20-s stereo window, on the CPU.

    python benchmarks/bench_separators.py [--threads 1] [--runs 5]

Times ``separate`` on one generated 20-s song at 44.1 kHz: mean and minimum of
``--runs`` calls after a warm-up. ``spleeter`` needs ``beets-emomucs[spleeter]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--separators", nargs="+", default=["offline", "spleeter"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from emomucs_core.separation import SEPARATION_RATE, make_separator
    from emomucs_core.testing import synth_music

    song = synth_music(20.0, SEPARATION_RATE, seed=1)
    window = torch.from_numpy(np.ascontiguousarray(song.T))[None]  # (1, 2, n)
    print(f"one 20-s stereo window at {SEPARATION_RATE} Hz, {args.threads} thread(s), {args.runs} runs after a warm-up")
    for spec in args.separators:
        separator = make_separator(spec, device="cpu")
        separator.separate(window)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            separator.separate(window)
            times.append(time.perf_counter() - start)
        mean = statistics.mean(times)
        print(f"{separator.id:16s} mean {mean:.2f} s  min {min(times):.2f} s  ({20 / mean:.1f}x real time)")


if __name__ == "__main__":
    main()
