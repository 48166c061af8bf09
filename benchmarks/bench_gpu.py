"""Full-size HTDemucs plus the model on CUDA: tracks per second, seconds per 4-minute track, peak GPU memory.

    python benchmarks/bench_gpu.py [--tracks 8] [--minutes 4] [--batch 16] [--cpu-tracks 1] [--no-half]

HTDemucs with demucs' default hyper-parameters and random weights (built with
demucs' own classes, saved in a local repo, loaded by demucs' loader: the cost
does not depend on the weights' values), then the built-in model's network
(``--arch builtin``: its descriptors and quadrant head, on Demucs' stems) or the
paper's EmoMucs-C2D late fusion (``--arch c2d``), through the real predictor:
decoding threads, three 20-s windows per track, windows of several tracks
batched (``--batch``, the predictor's default on a GPU is 16), Demucs under
float16 autocast (demucs' STFTs and its output scaling stay float32; the
features and the small model run in float32; ``--no-half`` for all float32).
Tracks are generated music (FLAC, 44.1 kHz stereo) in a temporary folder.

Printed: the device, tracks/s and s per track after one warm-up track, peak
GPU memory (allocated and reserved by torch's caching allocator), where the
time goes per stage (:mod:`emomucs_core.profiling`), and the same work on the
CPU: on ``--cpu-tracks`` tracks only (default 1: full-size HTDemucs runs at
about real time on 2 cores), which the output says. Without a CUDA device it
says "no CUDA device" and runs the CPU part only. ``--size small`` uses the
tests' small HTDemucs (for checking the script, not for figures).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))



def write_tracks(folder: Path, tracks: int, minutes: float) -> list[Path]:
    """``tracks`` generated songs of ``minutes`` minutes (FLAC, 44.1 kHz stereo), written a minute at a time."""
    import soundfile as sf

    from emomucs_core.testing import synth_music

    paths = []
    for n in range(tracks):
        path = folder / f"track-{n:02d}.flac"
        with sf.SoundFile(str(path), "w", samplerate=44100, channels=2) as out:
            left = minutes * 60
            while left > 0:
                out.write(synth_music(min(60.0, left), 44100, seed=n * 7 + int(left) % 5))
                left -= 60
        paths.append(path)
    return paths


def make_bundle(folder: Path, arch: str) -> Path:
    """A bundle over Demucs' stems: the built-in model's network and features, or EmoMucs-C2D late fusion."""
    import torch

    from emomucs_core.checkpoint import Bundle, load_bundle
    from emomucs_core.nets import EmoMucs, NetConfig

    demucs = {"backend": "demucs", "model": "htdemucs"}
    if arch == "builtin":
        built_in = load_bundle()
        bundle = Bundle(built_in.model, mel=built_in.mel, separator=demucs, name="bench-gpu")
    else:
        torch.manual_seed(0)
        bundle = Bundle(EmoMucs(NetConfig(arch="c2d", fusion="late")).eval(), separator=demucs, name="bench-gpu")
    return bundle.save(folder / "bundle.safetensors")


def run(tracks: list[Path], bundle: Path, repo: Path, device: str, batch: int, half: bool, windows: int) -> dict:
    """One warm-up track, then every track profiled: seconds, tracks/s, peak GPU memory (MiB), stage table."""
    import torch

    from emomucs_core import profiling
    from emomucs_core.predictor import Predictor
    from emomucs_core.separators.demucs import DemucsSeparator

    separator = DemucsSeparator(repo=repo, device=device, half=half)
    predictor = Predictor(bundle, separator=separator, device=device, batch_size=batch, windows=windows)
    warm = predictor.predict_one(tracks[0])
    assert warm.ok, warm.error
    cuda = device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start_cpu = _cpu()
    start = time.perf_counter()
    with profiling.collect() as profile:
        results = list(predictor.predict(tracks))
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    failed = [f"{r.path.name}: {r.error}" for r in results if not r.ok]
    assert not failed, failed
    out = {"tracks": len(tracks), "seconds": seconds, "cpu_seconds": _cpu() - start_cpu,
           "windows": windows, "table": profile.table(len(tracks))}
    if cuda:
        out["allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
    return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _report(label: str, row: dict, minutes: float) -> None:
    per_track = row["seconds"] / row["tracks"]
    print(f"{label}: {row['tracks']} tracks in {row['seconds']:.1f} s: {row['tracks'] / row['seconds']:.3f} tracks/s, "
          f"{per_track:.2f} s per {minutes:g}-minute track ({row['windows'] * 20} s of it separated), "
          f"process CPU {row['cpu_seconds'] / row['tracks']:.2f} s per track")
    if "allocated_mib" in row:
        print(f"{label}: peak GPU memory {row['allocated_mib']:.0f} MiB allocated, {row['reserved_mib']:.0f} MiB reserved")
    print(f"{label}: where the time goes (ms per track):")
    print(row["table"])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=8, help="tracks timed on the GPU")
    parser.add_argument("--minutes", type=float, default=4.0, help="length of each track")
    parser.add_argument("--batch", type=int, default=16, help="windows per Demucs and model batch on the GPU")
    parser.add_argument("--cpu-tracks", type=int, default=1, help="tracks timed on the CPU (0: none)")
    parser.add_argument("--cpu-batch", type=int, default=3, help="windows per batch on the CPU")
    parser.add_argument("--windows", type=int, default=3, help="20-s windows per track (the predictor's default: 3)")
    parser.add_argument("--arch", choices=("builtin", "c2d"), default="builtin")
    parser.add_argument("--size", choices=("full", "small"), default="full", help="HTDemucs size (small: tests)")
    parser.add_argument("--no-half", action="store_true", help="Demucs in float32 on the GPU too")
    args = parser.parse_args(argv)

    import torch

    from emomucs_core.testing import write_demucs_repo

    with tempfile.TemporaryDirectory(prefix="emomucs-bench-gpu-") as tmp:
        tmp = Path(tmp)
        repo = write_demucs_repo(tmp / "repo", name="htdemucs", size=args.size)
        bundle = make_bundle(tmp, args.arch)
        tracks = write_tracks(tmp, max(args.tracks, args.cpu_tracks, 1), args.minutes)
        print(f"HTDemucs {args.size} (random weights), model {args.arch}, {args.windows} windows of 20 s per track, "
              f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
        figures: dict = {}
        if torch.cuda.is_available():
            name = torch.cuda.get_device_name(0)
            print(f"device: {name}; batch {args.batch} windows; Demucs "
                  f"{'float32' if args.no_half else 'float16 autocast (STFTs float32)'}")
            figures["cuda"] = run(tracks[: args.tracks], bundle, repo, "cuda", args.batch, not args.no_half,
                                   args.windows)
            figures["cuda"]["device"] = name
            _report("GPU", figures["cuda"], args.minutes)
        else:
            print("device: no CUDA device: the GPU part is skipped, the CPU part runs")
        if args.cpu_tracks:
            print(f"CPU: the same work on {args.cpu_tracks} of the tracks"
                  + (f" (reduced from {args.tracks}: full-size HTDemucs is slow on a CPU)"
                     if args.cpu_tracks < args.tracks else "") + f"; batch {args.cpu_batch} windows, float32")
            figures["cpu"] = run(tracks[: args.cpu_tracks], bundle, repo, "cpu", args.cpu_batch, False, args.windows)
            _report("CPU", figures["cpu"], args.minutes)
        if "cuda" in figures and "cpu" in figures:
            ratio = (figures["cpu"]["seconds"] / figures["cpu"]["tracks"]) / (
                figures["cuda"]["seconds"] / figures["cuda"]["tracks"])
            print(f"GPU vs CPU: {ratio:.1f}x the tracks per second")
    return figures


if __name__ == "__main__":
    main()
