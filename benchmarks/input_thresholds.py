"""How level and bandwidth move the built-in model's values: the measurements behind the warnings.

Generated music (:func:`emomucs_core.testing.synth_music`, a few seeds) is
scaled to several RMS levels and resampled to several rates; each variant is
predicted (one window) and printed with its valence, arousal, the change from
the unchanged reference (about -12 dBFS, 44.1 kHz), and the cut-off estimated by
:func:`emomucs_core.input_checks.cutoff_hz`.

    python benchmarks/input_thresholds.py [--seeds 3]
    python benchmarks/input_thresholds.py --data DIR   # levels and cut-offs of real clips instead

With ``--data`` (a folder searched for MP3/FLAC/WAV files) it predicts nothing and
prints percentiles of the level and the estimated cut-off of each clip's
central 20 s: the range the model was trained on.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=None, help="folder of real clips: print their levels and cut-offs")
    args = parser.parse_args()
    if args.data:
        survey(args.data)
        return

    import numpy as np
    import soxr
    import torch

    from emomucs_core.audio import AudioFile
    from emomucs_core.input_checks import cutoff_hz, level_db
    from emomucs_core.predictor import Predictor
    from emomucs_core.testing import synth_music, write_audio

    torch.set_num_threads(1)
    predictor = Predictor(device="cpu", windows=1, threads=1)
    rate = 44100
    variants = [("level", db) for db in (-15, -25, -35, -45)] + [("rate", r) for r in (8000, 11025, 16000, 22050)]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            music = synth_music(25, rate, seed=seed)
            reference = 20 * np.log10(np.sqrt(np.mean(music.mean(axis=1) ** 2)))
            paths = [write_audio(Path(tmp) / f"{seed}-ref.wav", music, rate)]
            for kind, value in variants:
                if kind == "level":
                    audio, sr = music * 10 ** ((value - reference) / 20), rate
                else:
                    audio, sr = soxr.resample(music, rate, value), value
                paths.append(write_audio(Path(tmp) / f"{seed}-{kind}{value}.wav", audio.astype(np.float32), sr))
            results = list(predictor.predict(paths))
            base = results[0]
            for (kind, value), path, r in zip([("ref", round(reference))] + variants, paths, results):
                with AudioFile(path) as audio:
                    x = audio.read(2.0, 20.0)
                print(f"seed {seed} {kind:>5} {value:>6}: level {level_db(x):6.1f} dBFS, cut-off "
                      f"{cutoff_hz(x, 44100) / 1000:5.1f} kHz, valence {r.valence:.3f} ({r.valence - base.valence:+.3f}), "
                      f"arousal {r.arousal:.3f} ({r.arousal - base.arousal:+.3f})", flush=True)


def survey(folder: Path) -> None:
    import numpy as np

    from emomucs_core.audio import AudioError, AudioFile
    from emomucs_core.input_checks import BAND_LIMIT_HZ, QUIET_DB, cutoff_hz, level_db

    levels, cutoffs = [], []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mp3", ".flac", ".wav")):
        try:
            with AudioFile(path) as audio:
                x = audio.read(max(0.0, audio.duration / 2 - 10), 20.0)
        except AudioError:
            continue
        levels.append(level_db(x))
        cutoffs.append(cutoff_hz(x, 44100))
    levels, cutoffs = np.array(levels), np.array(cutoffs)
    pct = (1, 5, 50, 95)
    print(f"{len(levels)} clips in {folder}")
    print("level dBFS, percentiles " + ", ".join(f"{p}%: {np.percentile(levels, p):.1f}" for p in pct)
          + f"; below {QUIET_DB:g}: {(levels < QUIET_DB).sum()}")
    print("cut-off kHz, percentiles " + ", ".join(f"{p}%: {np.percentile(cutoffs, p) / 1000:.1f}" for p in pct)
          + f"; below {BAND_LIMIT_HZ / 1000:g}: {(cutoffs < BAND_LIMIT_HZ).sum()}")


if __name__ == "__main__":
    main()
