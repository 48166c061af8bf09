"""Where the time of a track goes, stage by stage, through the real predictor (emomucs_core.profiling).

    python benchmarks/bench_stages.py --data ../shared/data/4q-dev [--every 10] [--model FILE] [--threads 1]

Runs :class:`~emomucs_core.predictor.Predictor` over every ``--every``-th audio
file under ``--data`` twice in one process (the first pass warms byte-code and
caches, the second is profiled) with ``--threads`` torch threads (1: as each of
N workers on N cores) and prints, per stage, wall and CPU milliseconds per
track: decode (open, find the audible part, place and read the windows), input
checks, separation (stem audio, Demucs only), stem features, each feature
extractor (descriptor groups, or each source model), the head and the Shapley
attribution. CPU is each stage's own thread's CPU time (decoding runs in the
predictor's decoding threads, beside the analysis), which holds up on a busy
machine better than wall time; the process's whole CPU time over the pass is
printed under the table, so what no stage covers is visible.
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emomucs_core import profiling  # noqa: E402
from emomucs_core.results import collect_inputs  # noqa: E402


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def profile_files(files: list[Path], model: str | None = None, threads: int = 1,
                  device: str = "cpu") -> tuple[profiling.Profile, float, str]:
    """Profile of one pass of the predictor over ``files`` after one warm-up pass; process CPU s; model id."""
    import torch

    torch.set_num_threads(threads)
    from emomucs_core.predictor import Predictor

    predictor = Predictor(model, device=device)
    for result in predictor.predict(files):  # warm-up, not profiled
        if not result.ok:
            print(f"error: {result.path}: {result.error}", file=sys.stderr)
    start = _cpu()
    with profiling.collect() as profile:
        list(predictor.predict(files))
    return profile, _cpu() - start, predictor.model_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of audio files, searched recursively")
    parser.add_argument("--every", type=int, default=10, help="take every n-th file (sorted by path)")
    parser.add_argument("--model", default=None, help="model bundle (default: the built-in model)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: as in each worker)")
    parser.add_argument("--label", default="", help="what the files are, for the heading")
    args = parser.parse_args()
    files = collect_inputs([args.data])[:: args.every]
    if not files:
        raise SystemExit(f"no audio files under {args.data}")
    profile, cpu, model_id = profile_files(files, args.model, args.threads)
    print(f"stages of {len(files)} {args.label or 'files'} (model {model_id}, {args.threads} torch thread(s), "
          "one process, second pass):")
    print(profile.table(len(files)))
    print(f"process CPU over the pass: {1000 * cpu / len(files):.1f} ms per track "
          f"(stages: {1000 * sum(profile.cpu.values()) / len(files):.1f})")


if __name__ == "__main__":
    main()
