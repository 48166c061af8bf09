"""Where a worker's peak memory goes: peak RSS of each step of one prediction worker.

Runs what a worker of ``emomucs predict --jobs N`` runs, in this process: one
torch thread, ``import torch``, the predictor module, the built-in model, then
``--files`` real clips one at a time (as a worker gets them). Before each step
the kernel's peak counter is reset (``/proc/self/clear_refs``), so each row is
the peak RSS (``VmHWM``) reached during that step alone; "now" is the RSS after
it. By default the workers' malloc settings apply (one arena, freed blocks kept
in the heap: ``parallel._tune_malloc``); ``--no-lean`` leaves glibc's. Linux only.

    python benchmarks/bench_worker_memory.py [--data DIR] [--files 20] [--batch-size B] [--no-lean]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_name] = "1"  # as in each of 2 workers on 2 cores


def _status() -> dict[str, float]:
    """VmHWM and VmRSS of this process, MiB."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return {line.split(":")[0]: int(line.split()[1]) / 1024 for line in lines if line.startswith(("VmHWM", "VmRSS"))}


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/4q-dev")
    parser.add_argument("--files", type=int, default=20, help="clips (every 10th of --data, sorted by path)")
    parser.add_argument("--batch-size", type=int, default=None, help="windows per batch [predictor default]")
    parser.add_argument("--no-lean", dest="lean", action="store_false", help="without the workers' malloc settings")
    args = parser.parse_args()
    files = sorted(p for p in args.data.rglob("*.mp3"))[::10][: args.files]
    if not files:
        print(f"skipped: no MP3 files under {args.data}")
        return

    if args.lean:
        from emomucs_core.parallel import _tune_malloc

        _tune_malloc()
    rows: list[tuple[str, float, float]] = []

    def step(label: str, peak: float | None = None) -> None:
        now = _status()
        rows.append((label, peak if peak is not None else now["VmHWM"], now["VmRSS"]))
        _reset_peak()

    _reset_peak()
    step("python")
    import torch

    torch.set_num_threads(1)
    step("import torch")
    from emomucs_core.predictor import Predictor

    step("import emomucs_core.predictor")
    predictor = Predictor(device="cpu", batch_size=args.batch_size)
    step("load the built-in model")
    peaks = []
    for n, path in enumerate(files):
        result = predictor.predict_one(path)
        if not result.ok:
            raise SystemExit(f"{path}: {result.error}")
        if n == 0:
            step("first file (decode, features, model, Shapley)")
        else:
            peaks.append(_status()["VmHWM"])
    if peaks:
        step(f"files 2-{len(files)}, highest", max(peaks))
    loaded = [m for m in ("librosa", "numba", "scipy") if m in sys.modules]
    print(f"batch {predictor.batch_size} windows, malloc settings {'on' if args.lean else 'off'}, "
          f"{len(files)} files; loaded of librosa/numba/scipy: {', '.join(loaded) or 'none'}")
    print("| step | peak RSS in the step MiB | RSS after MiB |")
    print("|---|---|---|")
    for label, peak, now in rows:
        print(f"| {label} | {peak:.0f} | {now:.0f} |")


if __name__ == "__main__":
    main()
