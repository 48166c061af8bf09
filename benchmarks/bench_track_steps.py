"""CPU time per track of each step of the default path, on real files, one thread.

    python benchmarks/bench_track_steps.py --data ../shared/data/4q-dev [--every 60] [--model FILE]

Runs the steps of :class:`~emomucs_core.predictor.Predictor` one by one on every
``--every``-th audio file under ``--data`` (twice; the second pass is timed, so
byte-code, caches and the numba-free path are warm) and prints the mean CPU
milliseconds per track of: opening the file (true length), finding the audible
part and placing the windows (a clip of at most 60 s is decoded whole at this first
read), reading them (as spans for a span separator), the input checks,
the stem features, and the model with its Shapley values. CPU time with one
thread is the cost per core and holds up on a busy machine better than wall time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from emomucs_core.audio import AudioFile
from emomucs_core.constants import SEPARATION_RATE
from emomucs_core.input_checks import check_windows
from emomucs_core.predictor import Predictor
from emomucs_core.results import collect_inputs
from emomucs_core.windows import choose_windows, read_spans, read_window

STEPS = ("open", "choose windows", "read", "checks", "stem features", "model + Shapley")


def track_steps(predictor: Predictor, path: Path) -> list[float]:
    """CPU seconds of each of :data:`STEPS` for one file."""
    step, n = predictor.step, predictor.windows
    marks = [time.process_time()]
    audio = AudioFile(path)
    marks.append(time.process_time())
    chosen = choose_windows(audio, n, predictor.bundle.window_seconds)  # mostly finding the audible part
    marks.append(time.process_time())
    if step.analyses_spans:
        rate = predictor.separator.span_rate
        chosen, spans, length = read_spans(audio, chosen, step.mel.hop_seconds, rate)
        windows = [a[:, o : o + length] for a, offs in spans for o in offs]
    else:
        rate = SEPARATION_RATE
        windows = np.stack([read_window(audio, w) for w in chosen])
    marks.append(time.process_time())
    check_windows(windows, rate)
    marks.append(time.process_time())
    feats = step.span_features(spans, length) if step.analyses_spans else step.features(windows)
    marks.append(time.process_time())
    step.from_features(feats)
    marks.append(time.process_time())
    audio.close()
    return list(np.diff(marks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of audio files")
    parser.add_argument("--every", type=int, default=60, help="take every N-th file")
    parser.add_argument("--model", default=None, help="model bundle (default: the built-in model)")
    parser.add_argument("--separator", default=None, help="default: the model's")
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = collect_inputs([args.data])[:: args.every]
    predictor = Predictor(args.model, separator=args.separator, threads=1)
    for timed in (False, True):
        totals = np.zeros(len(STEPS))
        for path in files:
            totals += track_steps(predictor, path)
    per_track = totals / len(files) * 1000
    print(f"{len(files)} files, model {predictor.model_id}, separator {predictor.separator.id}, 1 thread, "
          f"CPU ms per track:")
    for name, ms in zip(STEPS, per_track):
        print(f"  {name:16s} {ms:7.1f}")
    print(f"  {'total':16s} {per_track.sum():7.1f}")


if __name__ == "__main__":
    main()
