"""The descriptor branch: sizes, the DCT, and what the rhythm and modulation parts measure."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch

from emomucs_core.descriptors import (
    MOD_BANDS, MOD_EDGES, N_MFCC, descriptor_size, dct_matrix, window_descriptors,
)
from emomucs_core.features import MelParams

RATE = MelParams().frame_rate
FRAMES = MelParams().frames(20.0)
N_MOD = MOD_BANDS * (len(MOD_EDGES) - 1)


def parts(d: torch.Tensor, n_mels: int = 96) -> dict[str, torch.Tensor]:
    """Split descriptors ``(B, D)`` into their named groups."""
    sizes = {"mfcc": 3 * N_MFCC, "flux": n_mels, "modulation": N_MOD, "rhythm": 8}
    return dict(zip(sizes, torch.split(d, list(sizes.values()), dim=-1)))


def pulses(bpm: float, frames: int = FRAMES, n_mels: int = 96) -> torch.Tensor:
    """A log-mel window ``(1, n_mels, frames)``: -60 dB with a 0-dB click on every beat."""
    x = torch.full((1, n_mels, frames), -60.0)
    period = 60.0 / bpm * RATE
    for i in np.arange(0, frames, period).round().astype(int):
        x[..., i : i + 3] = 0.0
    return x


@pytest.mark.parametrize("n_mels", [96, 40])
def test_size_matches_descriptor_size(n_mels):
    d = window_descriptors(torch.randn(3, n_mels, 500) * 10 - 40, RATE)
    assert d.shape == (3, descriptor_size(n_mels))
    assert descriptor_size(96) == 260


def test_dct_matrix_is_scipys_orthonormal_dct():
    x = np.random.default_rng(0).normal(size=(96, 7))
    ours = dct_matrix(N_MFCC, 96).double().numpy() @ x
    assert np.allclose(ours, scipy.fft.dct(x, axis=0, norm="ortho")[:N_MFCC], atol=1e-5)


@pytest.mark.parametrize("bpm", [80.0, 120.0, 150.0])
def test_beat_lag_is_a_whole_number_of_beats(bpm):
    rhythm = parts(window_descriptors(pulses(bpm), RATE))["rhythm"][0]
    peak, beats = rhythm[6].item(), rhythm[7].item() / (60.0 / bpm)
    assert beats == pytest.approx(round(beats), abs=0.05) and round(beats) >= 1  # a beat period, or two
    assert peak > 0.5
    noise = torch.randn(1, 96, FRAMES, generator=torch.Generator().manual_seed(0)) * 10 - 60
    assert parts(window_descriptors(noise, RATE))["rhythm"][0, 6] < 0.2  # no beat, no peak


def test_modulation_energy_peaks_at_the_modulation_rate():
    t = torch.arange(FRAMES) / RATE
    x = (-40 + 20 * torch.sin(2 * torch.pi * 5.0 * t)).expand(1, 96, FRAMES)  # 5 Hz tremolo
    modulation = parts(window_descriptors(x, RATE))["modulation"].view(MOD_BANDS, -1)
    assert modulation.argmax(dim=1).eq(4).all()  # the 4-8 Hz band, in every pooled mel band


def test_loudness_and_flux_of_a_steady_window():
    x = torch.full((1, 96, FRAMES), -30.0)
    d = parts(window_descriptors(x, RATE))
    assert d["rhythm"][0, 0].item() == pytest.approx(-30.0)  # mean loudness
    assert d["rhythm"][0, 1].item() == pytest.approx(0.0, abs=1e-5)  # its std
    assert torch.all(d["flux"] == 0)


def test_silence_and_short_windows_give_finite_values():
    silent = window_descriptors(torch.full((2, 96, FRAMES), -100.0), RATE)
    short = window_descriptors(torch.randn(2, 96, 20) - 40, RATE)  # 0.23 s: no beat period fits
    assert torch.isfinite(silent).all() and torch.isfinite(short).all()
    assert torch.equal(parts(short)["rhythm"][:, 6:], torch.zeros(2, 2))
    # -100 dB (the log-mel floor) and -80 dB (the descriptors' floor) are the same silence
    assert torch.allclose(silent, window_descriptors(torch.full((2, 96, FRAMES), -80.0), RATE))
