"""OfflineSeparator: the weight-free HPSS + REPET-SIM split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emomucs_core.offline_separation import OfflineSeparator
from emomucs_core.separation import SEPARATION_RATE, SOURCES, make_separator
from emomucs_core.testing import synth_music

SR = SEPARATION_RATE


@pytest.fixture(scope="module")
def separator() -> OfflineSeparator:
    return OfflineSeparator()


def _batch(*signals: np.ndarray) -> torch.Tensor:
    """Stack ``(n, channels)`` or ``(n,)`` signals into a ``(B, 2, n)`` float32 tensor."""
    out = []
    for s in signals:
        s = np.asarray(s, dtype=np.float32)
        out.append(np.stack([s, s]) if s.ndim == 1 else s.T)
    return torch.from_numpy(np.ascontiguousarray(np.stack(out)))


def _energy(x: torch.Tensor) -> float:
    return float((x.double() ** 2).sum())


def test_shapes_lengths_and_sum(separator):
    n = int(6.3 * SR) + 17  # not a multiple of the hop
    x = _batch(synth_music(6.3, seed=1)[:n], synth_music(6.3, seed=2, root_hz=196.0)[:n])
    out = separator.separate(x)
    assert set(out) == set(SOURCES)
    for stem in out.values():
        assert stem.shape == x.shape and stem.dtype == torch.float32 and stem.device.type == "cpu"
        assert torch.isfinite(stem).all()
    total = sum(out.values())
    assert torch.allclose(total, x, atol=1e-5)
    # Every stem gets something from a full mix, and stereo stays stereo (right = 0.9 x left).
    for name, stem in out.items():
        assert _energy(stem) > 1e-4 * _energy(x), name
    ratio = out["vocals"][0, 1].abs().sum() / out["vocals"][0, 0].abs().sum()
    assert 0.85 < float(ratio) < 0.95


def test_drums_signal_goes_to_drums(separator):
    rng = np.random.default_rng(0)
    n = 8 * SR
    x = np.zeros(n, dtype=np.float32)
    for start in range(0, n - SR // 10, SR // 4):  # clicks and short noise bursts, 4 per second
        burst = rng.standard_normal(SR // 50) * np.exp(-np.arange(SR // 50) / (SR / 400))
        x[start : start + burst.size] += 0.5 * burst.astype(np.float32)
        x[start] += 0.9
    out = separator.separate(_batch(x))
    assert _energy(out["drums"]) > 2 * _energy(out["vocals"])
    assert _energy(out["drums"]) > 0.4 * _energy(_batch(x))


def test_vibrato_tone_stays_out_of_drums(separator):
    t = np.arange(8 * SR) / SR
    freq = 440.0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    tone = 0.4 * np.sin(2 * np.pi * np.cumsum(freq) / SR)
    out = separator.separate(_batch(tone))
    total = _energy(_batch(tone))
    assert _energy(out["drums"]) < 0.2 * total
    assert _energy(out["bass"]) < 0.05 * total  # 440 Hz is above the bass crossover


def test_bass_tone_goes_to_bass(separator):
    t = np.arange(8 * SR) / SR
    tone = 0.4 * np.sin(2 * np.pi * 55.0 * t)
    out = separator.separate(_batch(tone))
    assert _energy(out["bass"]) > 0.5 * _energy(_batch(tone))


def test_silence_in_silence_out(separator):
    out = separator.separate(torch.zeros(2, 2, 5 * SR))
    for stem in out.values():
        assert stem.shape == (2, 2, 5 * SR)
        assert torch.isfinite(stem).all() and float(stem.abs().max()) == 0.0


def test_partly_silent_and_tiny_inputs(separator):
    x = _batch(np.concatenate([np.zeros(3 * SR), synth_music(3.0, channels=1)[:, 0]]))
    out = separator.separate(x)
    assert all(torch.isfinite(s).all() for s in out.values())
    assert torch.allclose(sum(out.values()), x, atol=1e-5)
    tiny = torch.full((1, 2, 1000), 0.1)  # shorter than one STFT frame: passed through as "other"
    out = separator.separate(tiny)
    assert torch.equal(out["other"], tiny) and float(out["vocals"].abs().max()) == 0.0


def test_deterministic(separator):
    x = _batch(synth_music(5.0, seed=3))
    a, b = separator.separate(x), separator.separate(x)
    assert all(torch.equal(a[s], b[s]) for s in SOURCES)


def test_make_separator():
    for spec in ("offline", {"backend": "offline"}, "offline:v1"):
        sep = make_separator(spec, device="auto", repo=None, shifts=1)
        assert isinstance(sep, OfflineSeparator)
        assert sep.id == "offline:v1" and sep.spec == {"backend": "offline", "model": "v1"}
    out = sep.separate(_batch(synth_music(3.0)))
    assert set(out) == set(SOURCES)
