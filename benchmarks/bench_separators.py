"""Cost of the stem features per 20-s stereo window, on the CPU, per separator; and of the whole path.

    python benchmarks/bench_separators.py [--threads 1] [--runs 5] [--batch 4]
        [--separators offline:v1 offline:v2 spleeter] [--parts] [--predict 0]

For each separator, times :func:`emomucs_core.pipeline.stem_features` (the four
stems' feature arrays with the separator's own feature parameters: stem audio
then log-mels for ``offline:v1`` and ``spleeter``, masks on one STFT for
``offline:v2``) on ``--batch`` windows of generated 20-s songs at 44.1 kHz:
CPU time (mean and minimum) and wall time (mean) per window over ``--runs``
calls after a warm-up. With one thread, CPU time is the cost per core and
holds up better than wall time on a busy machine.

``--parts`` adds the steps of ``offline:v2`` (downmix and resampling, STFT, mask
grid, HPSS medians, REPET-SIM, upsampling, filterbanks) per window.
``--predict N`` times the whole default path (decode, features, model, Shapley
values) of :class:`~emomucs_core.predictor.Predictor` over N generated 30-s FLAC
tracks (3 windows each) with an ``offline:v2`` stem-descriptor bundle (weights
untrained: the cost does not depend on them), per window. ``spleeter`` needs
``beets-emomucs[spleeter]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def timed(fn, runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of ``runs`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def report(name: str, times: list[tuple[float, float]], per: int) -> None:
    wall, cpu = ([t[i] / per * 1000 for t in times] for i in (0, 1))
    print(f"{name:34s} CPU mean {statistics.mean(cpu):7.1f} ms min {min(cpu):7.1f} ms | "
          f"wall mean {statistics.mean(wall):7.1f} ms per window")


def parts(windows: np.ndarray, runs: int) -> None:
    """The steps of ``offline:v2`` one by one."""
    import torch.nn.functional as F

    from emomucs_core.features import features_from_power, power_spectrogram, to_mono
    from emomucs_core.separators import SEPARATION_RATE
    from emomucs_core.separators import masks as grids
    from emomucs_core.separators.medians import running_median
    from emomucs_core.separators.shares import masked_power
    from emomucs_core.separators.variants import V2_PARAMS

    p = V2_PARAMS
    n = len(windows)
    mono = to_mono(windows, SEPARATION_RATE, p)
    power = power_spectrogram(mono, p)
    mag = F.avg_pool2d(power.unsqueeze(1), 2, ceil_mode=True).squeeze(1).sqrt()
    masks, cell = grids.stem_masks(power, p)
    steps = {
        "downmix + resample to 22050 Hz": lambda: to_mono(windows, SEPARATION_RATE, p),
        "STFT power": lambda: power_spectrogram(mono, p),
        "mask grid (2x2 mean)": lambda: F.avg_pool2d(power.unsqueeze(1), 2, ceil_mode=True),
        "HPSS medians (time + frequency)": lambda: (running_median(mag, -1, 9), running_median(mag, -2, 9)),
        "REPET-SIM": lambda: grids._repet_foreground(mag + 1e-8, p.frame_rate / 2, grids.CELLS.neighbours),
        "all masks (incl. the above 3)": lambda: grids.stem_masks(power, p),
        "offline:v7's masks (every bin, every other frame)": lambda: grids.v1_grid_masks(power, p),
        "stem powers": lambda: masked_power(power, masks.clone(), cell),
        "mel + chroma of 4 stems": lambda: features_from_power(masked_power(power, masks.clone(), cell), p),
    }
    for name, fn in steps.items():
        report("  " + name, timed(fn, runs), n)


def predict(n_tracks: int, threads: int) -> None:
    """Whole-path cost per window with an offline:v2 stem-descriptor bundle."""
    from emomucs_core.checkpoint import Bundle
    from emomucs_core.nets import EmoMucs
    from emomucs_core.predictor import Predictor
    from emomucs_core.separators import V2_PARAMS
    from emomucs_core.testing import synth_music, write_audio
    from emomucs_core.training import parse_spec

    cfg = parse_spec("desc-early-freeze-quadrant-linear").cfg
    cfg.n_chroma, cfg.frame_rate = V2_PARAMS.n_chroma, V2_PARAMS.frame_rate
    bundle = Bundle(EmoMucs(cfg).eval(), mel=V2_PARAMS, separator={"backend": "offline", "model": "v2"})
    with tempfile.TemporaryDirectory() as tmp:
        files = [write_audio(Path(tmp) / f"song{i}.flac", synth_music(30, 44100, seed=i), 44100)
                 for i in range(n_tracks + 1)]
        predictor = Predictor(bundle, device="cpu", threads=1)
        predictor.predict_one(files[-1])  # warm-up
        start, cpu = time.perf_counter(), time.process_time()
        results = list(predictor.predict(files[:-1]))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    windows = sum(len(r.windows) for r in results)
    print(f"whole path (decode, features, model, Shapley), offline:v2 bundle, {threads} torch thread(s): "
          f"{windows} windows of {n_tracks} 30-s tracks: CPU {cpu / windows * 1000:.1f} ms, wall "
          f"{elapsed / windows * 1000:.1f} ms per window ({cpu / n_tracks:.2f} s CPU per track)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4, help="windows per call (the predictor's default batch)")
    parser.add_argument("--separators", nargs="+", default=["offline:v1", "offline:v2", "spleeter"])
    parser.add_argument("--parts", action="store_true", help="also time the steps of offline:v2")
    parser.add_argument("--predict", type=int, default=0, metavar="N", help="also time the whole path on N tracks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from emomucs_core.pipeline import stem_features
    from emomucs_core.separators import SEPARATION_RATE, SOURCES, make_separator
    from emomucs_core.testing import synth_music

    windows = np.stack([np.ascontiguousarray(synth_music(20.0, SEPARATION_RATE, seed=i).T)
                        for i in range(args.batch)]).astype(np.float32)  # (B, 2, n)
    print(f"{args.batch} x 20-s stereo windows at {SEPARATION_RATE} Hz, {args.threads} thread(s), "
          f"{args.runs} runs after a warm-up")
    for spec in args.separators:
        separator = make_separator(spec, device="cpu")
        times = timed(lambda: stem_features(windows, SOURCES, separator, separator.feature_params), args.runs)
        report(f"{separator.id} stem features", times, args.batch)
        if args.parts and separator.id == "offline:v2":
            parts(windows, args.runs)
    if args.predict:
        predict(args.predict, args.threads)


if __name__ == "__main__":
    main()
