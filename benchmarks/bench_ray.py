"""Throughput of the Ray engine (1 and 2 actors) against the local path, on the same real clips.

Each configuration runs in a fresh process over the same files with the built-in
model (offline separator, 3 windows per track) and writes a result file; it
reports the wall time from start to the last record (start-up included), the
time to the first record, and the steady rate: seconds per track between the
first and the last record.

    python benchmarks/bench_ray.py [--data ../shared/data/4q-dev] [--files 24]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "local Predictor (in-process, 2 torch threads)": {"engine": "local"},
    "local predict_files, 2 workers": {"engine": "parallel", "jobs": 2},
    "Ray, 1 actor x 2 threads": {"engine": "ray", "jobs": 2, "actors": 1},
    "Ray, 2 actors x 1 thread": {"engine": "ray", "jobs": 2, "actors": 2},
}


def run(config: dict, files: list[Path], out: Path, files_per_batch: int) -> dict:
    """Analyse ``files`` with one configuration in this process; arrival time of every record."""
    start = time.perf_counter()
    arrivals: list[float] = []
    engine = config["engine"]
    if engine == "ray":
        from emomucs_core.ray_engine import predict_on_ray

        predict_on_ray(files, out, jobs=config["jobs"], actors=config["actors"], files_per_batch=files_per_batch,
                       on_batch=lambda records: arrivals.extend([time.perf_counter()] * len(records)))
    else:
        if engine == "parallel":
            from emomucs_core.parallel import predict_files

            results = predict_files(files, jobs=config["jobs"])
        else:
            from emomucs_core.predictor import Predictor

            results = Predictor().predict(files)
        for result in results:
            assert result.ok, result.error
            arrivals.append(time.perf_counter())
    first, last = arrivals[0] - start, arrivals[-1] - start
    steady = (last - first) / max(1, sum(t > arrivals[0] for t in arrivals))
    return {"tracks": len(arrivals), "wall_s": round(last, 1), "first_record_s": round(first, 1),
            "steady_s_per_track": round(steady, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "4q-dev")
    parser.add_argument("--files", type=int, default=24, help="clips: every k-th MP3 of the data folder")
    parser.add_argument("--files-per-batch", type=int, default=4)
    parser.add_argument("--only", nargs="*", default=None, help="configuration names (substrings) to run")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    clips = sorted(args.data.rglob("*.mp3"))
    if not clips:
        print(f"no MP3 clips under {args.data}: skipped")
        return
    files = clips[:: max(1, len(clips) // args.files)][: args.files]
    if args._child:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run(CONFIGS[args._child], files, Path(tmp) / "r.jsonl", args.files_per_batch)))
        return
    print(f"{len(files)} clips of {args.data}, built-in model, 3 windows per track")
    print(f"| configuration | tracks | wall s | first record s | steady s per track |\n|---|---|---|---|---|")
    for name in CONFIGS:
        if args.only and not any(o in name for o in args.only):
            continue
        child = subprocess.run([sys.executable, __file__, "--data", str(args.data), "--files", str(args.files),
                                "--files-per-batch", str(args.files_per_batch), "--_child", name],
                               capture_output=True, text=True)
        if child.returncode:
            print(f"| {name} | failed: {(child.stderr.strip().splitlines() or ['?'])[-1]} |||")
            continue
        row = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"| {name} | {row['tracks']} | {row['wall_s']} | {row['first_record_s']} | {row['steady_s_per_track']} |",
              flush=True)


if __name__ == "__main__":
    main()
