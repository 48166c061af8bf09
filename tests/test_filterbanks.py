"""Our mel and chroma filterbanks and Welch spectrum against the libraries they replace on the prediction path."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
from scipy.signal import welch as scipy_welch

from emomucs_core.filterbanks import chroma_filterbank, hz_to_mel, mel_filterbank, mel_to_hz
from emomucs_core.input_checks import cutoff_hz, percentile, welch
from emomucs_core.testing import synth_music

#: (sample rate, FFT size): the paper's, offline:v2's, and a few unusual ones (odd FFT, other rates).
GRIDS = [(22050, 512), (22050, 2048), (44100, 4096), (16000, 400), (22050, 511), (8000, 256)]


#: Ours and librosa's, by kind: ``(sr, n_fft, rows) -> (rows, 1 + n_fft // 2)``.
FILTERBANKS = {
    "mel": (mel_filterbank, lambda sr, n_fft, rows: librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=rows)),
    "chroma": (chroma_filterbank, lambda sr, n_fft, rows: librosa.filters.chroma(sr=sr, n_fft=n_fft, n_chroma=rows)),
}


@pytest.mark.parametrize("sr, n_fft", GRIDS)
@pytest.mark.parametrize("kind, rows", [("mel", 40), ("mel", 96), ("mel", 128), ("chroma", 12), ("chroma", 24),
                                        ("chroma", 36)])
def test_filterbank_is_librosas(kind, rows, sr, n_fft):
    build, librosas = FILTERBANKS[kind]
    ours, theirs = build(sr, n_fft, rows), librosas(sr, n_fft, rows)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape == (rows, 1 + n_fft // 2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


def test_mel_scale_round_trips_and_is_librosas():
    hz = np.array([0.0, 100.0, 999.9, 1000.0, 1000.1, 4000.0, 11025.0, 22050.0])
    np.testing.assert_allclose(hz_to_mel(hz), librosa.hz_to_mel(hz), rtol=1e-12)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("n, nperseg, dtype", [(882000, 4096, np.float32), (10000, 4096, np.float64),
                                               (3000, 4096, np.float32), (10001, 255, np.float64)])
def test_welch_is_scipys(n, nperseg, dtype):
    x = (np.random.default_rng(n).standard_normal(n) * 0.1 + 0.3).astype(dtype)  # with a DC offset to remove
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns when nperseg > n (then it uses n, as we do)
        freqs, power = scipy_welch(x, 44100, nperseg=nperseg)
    our_freqs, ours = welch(x, 44100, nperseg=nperseg)
    assert ours.dtype == power.dtype and ours.shape == power.shape
    np.testing.assert_allclose(our_freqs, freqs)
    np.testing.assert_allclose(ours, power, rtol=2e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 185, 371])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_percentile_is_numpys(n, dtype):
    x = (np.random.default_rng(n).standard_normal(n) * 30 - 50).astype(dtype)
    for q in (0, 10, 50, 90, 99.5, 100):  # equal up to the rounding of x's precision
        np.testing.assert_allclose(percentile(x, q), np.percentile(x, q), rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_cutoff_of_band_limited_music():
    full = synth_music(20, 44100, seed=4).T  # (2, n)
    narrow = librosa.resample(librosa.resample(full, orig_sr=44100, target_sr=8000), orig_sr=8000, target_sr=44100)
    assert cutoff_hz(full.astype(np.float32), 44100) > 10000
    assert 3000 < cutoff_hz(narrow.astype(np.float32), 44100) < 4100
