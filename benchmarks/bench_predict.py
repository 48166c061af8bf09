"""Time and peak memory of one 30-s file through a full-size HTDemucs plus an EmoMucs model.

The HTDemucs has the default hyper-parameters and random weights (pretrained
weights cannot be downloaded here; the cost is the same). Each configuration
runs in a fresh process so that its peak RSS is its own.

    python benchmarks/bench_predict.py [--windows 1 3] [--file song.mp3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_one(file: Path, repo: Path, bundle: Path, windows: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from emomucs_core.predictor import Predictor

    start = time.perf_counter()
    predictor = Predictor(bundle, device="cpu", windows=windows, batch_size=windows, demucs_repo=repo)
    loaded = time.perf_counter() - start
    predictor.predict_one(file)  # warm-up: numba compilation, allocator
    start = time.perf_counter()
    result = predictor.predict_one(file)
    elapsed = time.perf_counter() - start
    assert result.ok, result.error
    return {
        "windows": windows,
        "load_s": round(loaded, 2),
        "predict_s": round(elapsed, 2),
        "audio_s_separated": windows * 20,
        "realtime_factor": round(windows * 20 / elapsed, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--file", type=Path, help="a 30-s audio file (default: a generated one)")
    parser.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        file, repo, bundle, windows = args._child
        print(json.dumps(run_one(Path(file), Path(repo), Path(bundle), int(windows), args.threads)))
        return

    import torch

    from emomucs_core.checkpoint import Bundle
    from emomucs_core.nets import EmoMucs, NetConfig, count_parameters
    from emomucs_core.testing import synth_music, write_audio, write_demucs_repo

    tmp = Path(tempfile.mkdtemp(prefix="emomucs-bench-"))
    repo = write_demucs_repo(tmp / "repo", name="htdemucs", size="full")
    from demucs.pretrained import get_model

    demucs_params = sum(p.numel() for p in get_model("htdemucs", repo=repo).parameters())
    torch.manual_seed(0)
    model = EmoMucs(NetConfig(arch="c2d", fusion="late"))
    bundle = Bundle(model, separator={"backend": "demucs", "model": "htdemucs"}, name="bench").save(tmp / "b.safetensors")
    file = args.file or write_audio(tmp / "song30.mp3", synth_music(30, 44100, seed=0), 44100)
    print(f"HTDemucs (default hyper-parameters, random weights): {demucs_params:,} parameters")
    print(f"EmoMucs-C2D late fusion: {count_parameters(model):,} parameters; file: {file}; threads: {args.threads}")
    print(f"{'windows':>7} {'load s':>7} {'predict s':>9} {'x realtime':>10} {'peak RSS MiB':>12}")
    for windows in args.windows:
        out = subprocess.run(
            [sys.executable, __file__, "--threads", str(args.threads), "--_child", str(file), str(repo), str(bundle),
             str(windows)], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{row['windows']:>7} {row['load_s']:>7} {row['predict_s']:>9} {row['realtime_factor']:>10} "
              f"{row['peak_rss_mib']:>12}")


if __name__ == "__main__":
    main()
