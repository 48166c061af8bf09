"""Every offline separator variant, and the built-in model through ``offline:v7``, give the values recorded before
the separators became data (issue 26): stem features and valence/arousal/contributions to 1e-6.

The inputs are generated here from a seeded generator; ``tests/data/separator_values.npz`` holds only summaries of
the outputs (each stem's mean per feature row and per block of 16 frames), recorded by
``python tests/test_separator_values.py --record`` on the code before the change. Rerecord only for a change
that is meant to alter the values, and say so in its commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from emomucs_core.pipeline import stem_features
from emomucs_core.separators import SOURCES, feature_params, make_separator

RECORDED = Path(__file__).parent / "data" / "separator_values.npz"
#: Variants analysing windows one by one (stereo 44.1 kHz) and spans (mono 22,050 Hz), as the predictor feeds them.
WINDOW_VARIANTS = ("offline:v1", "offline:v2")
SPAN_VARIANTS = ("offline:v3", "offline:v4", "offline:v5", "offline:v7")
SPAN_RATE = 22050
#: The span: 26 s; two 20-s windows, the second 512 hops of 256 samples in (5.9 s).
SPAN_SECONDS, WINDOW_SECONDS, SECOND_OFFSET = 26.0, 20.0, 512 * 256


def music(seconds: float, rate: int, channels: int, seed: int) -> np.ndarray:
    """Seeded test music ``(channels, n)`` float32: a square-wave bass, a vibrato melody, chords, kicks, noise hits."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    beat = 0.5
    notes = 220.0 * 2 ** (rng.integers(0, 12, size=int(seconds / beat) + 1) / 12)
    step = (t // beat).astype(int)
    melody = 0.2 * np.sin(2 * np.pi * np.cumsum(notes[step] * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / rate)
    bass = 0.25 * np.sign(np.sin(2 * np.pi * np.cumsum(notes[step // 4 * 4] / 4) / rate))
    chords = sum(0.06 * np.sin(2 * np.pi * 261.6 * 2 ** (k / 12) * t) for k in (0, 4, 7))
    phase = t % beat
    kick = 0.5 * np.exp(-phase * 25) * np.sin(2 * np.pi * 60 * t)
    hits = 0.15 * np.exp(-((t + beat / 2) % beat) * 40) * rng.standard_normal(t.size)
    mix = melody + bass + chords + kick + hits
    mix = 0.8 * mix / np.abs(mix).max()
    return np.stack([mix * (1.0 - 0.1 * c) for c in range(channels)]).astype(np.float32)


def summary(feats: np.ndarray) -> np.ndarray:
    """``(B, rows, frames)`` -> each row's mean and the mean of each block of 16 frames, float64, concatenated."""
    feats = feats.astype(np.float64)
    frames = feats.shape[-1] // 16 * 16
    blocks = feats[..., :frames].reshape(*feats.shape[:-1], -1, 16).mean(axis=(-3, -1))
    return np.concatenate([feats.mean(axis=-1).ravel(), blocks.ravel()])


def current_values() -> dict[str, np.ndarray]:
    """Summaries of every variant's stem features and the built-in model's outputs, as the code gives them now."""
    out = {}
    windows = music(10.0, 44100, 2, seed=1)[None].repeat(2, axis=0)
    windows[1] *= 0.25  # the same music 12 dB quieter
    for sid in WINDOW_VARIANTS:
        feats = stem_features(windows, ("mix",) + SOURCES, make_separator(sid), feature_params(sid))
        out.update({f"{sid}/{s}": summary(f) for s, f in feats.items()})
    span = music(SPAN_SECONDS, SPAN_RATE, 1, seed=2)
    offsets, length = [0, SECOND_OFFSET], int(WINDOW_SECONDS * SPAN_RATE)
    for sid in SPAN_VARIANTS:
        feats = make_separator(sid).span_features(span, offsets, length, ("mix",) + SOURCES, feature_params(sid))
        out.update({f"{sid}/{s}": summary(f) for s, f in feats.items()})
    from emomucs_core.predictor import Predictor

    step = Predictor(device="cpu").step  # the built-in model, with offline:v7
    unit, contrib, probs = step.from_spans([(span, offsets)], length)
    out.update({"model/unit": unit, "model/contributions": contrib, "model/probabilities": probs})
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


@pytest.fixture(scope="module")
def values() -> dict[str, np.ndarray]:
    return current_values()


def test_the_values_were_recorded_for_every_variant_and_the_model():
    recorded = np.load(RECORDED)
    sources = ("mix",) + SOURCES
    expected = {f"{sid}/{s}" for sid in WINDOW_VARIANTS + SPAN_VARIANTS for s in sources}
    assert expected | {"model/unit", "model/contributions", "model/probabilities"} == set(recorded.files)


@pytest.mark.parametrize("sid", WINDOW_VARIANTS + SPAN_VARIANTS + ("model",))
def test_values_are_those_recorded_before_the_change(values, sid):
    recorded = np.load(RECORDED)
    keys = [k for k in recorded.files if k.startswith(sid + "/")]
    assert keys
    for key in keys:
        np.testing.assert_allclose(values[key], recorded[key], rtol=1e-6, atol=1e-6, err_msg=key)


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_separator_values.py --record")
    RECORDED.parent.mkdir(exist_ok=True)
    np.savez_compressed(RECORDED, **{k: v if k.startswith("model/") else v.astype(np.float32)
                                     for k, v in current_values().items()})
    print(f"recorded {RECORDED}")
