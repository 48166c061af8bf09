"""Mel and chroma filterbanks in plain numpy, equal to librosa's defaults.

``librosa.filters`` costs 1.6-2.1 s of CPU and 170 MiB to import (it loads
numba and scipy.signal); the prediction path needs only these two matrices,
so it builds them here. Both follow librosa 0.11 step by step and match it to
float32 precision (tests/test_filterbanks.py compares them).
"""

from __future__ import annotations

import numpy as np

#: Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_MEL_HZ_PER_MEL = 200.0 / 3
_MEL_LOG_HZ = 1000.0
_MEL_LOG_MEL = _MEL_LOG_HZ / _MEL_HZ_PER_MEL
_MEL_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel of frequencies ``hz`` (Hz), as ``librosa.hz_to_mel(htk=False)``."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _MEL_HZ_PER_MEL
    above = _MEL_LOG_MEL + np.log(np.maximum(hz, _MEL_LOG_HZ) / _MEL_LOG_HZ) / _MEL_LOG_STEP
    return np.where(hz >= _MEL_LOG_HZ, above, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Frequencies (Hz) of Slaney mels ``mel``, as ``librosa.mel_to_hz(htk=False)``."""
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _MEL_HZ_PER_MEL
    above = _MEL_LOG_HZ * np.exp(_MEL_LOG_STEP * (np.maximum(mel, _MEL_LOG_MEL) - _MEL_LOG_MEL))
    return np.where(mel >= _MEL_LOG_MEL, above, linear)


def mel_filterbank(sr: float, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular mel filters, float32 ``(n_mels, 1 + n_fft // 2)``.

    As ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``: Slaney mel
    scale from 0 Hz to ``sr / 2``, each filter scaled to unit area in Hz
    (Slaney norm: ``2 / bandwidth``), so a bin's power is summed per band.
    """
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)  # (bins,)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))  # (n_mels + 2,)
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]  # (n_mels + 2, bins)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    weights *= 2.0 / (edges_hz[2:] - edges_hz[:-2])[:, None]
    return weights


def chroma_filterbank(sr: float, n_fft: int, n_chroma: int = 12) -> np.ndarray:
    """Chroma filters, float32 ``(n_chroma, 1 + n_fft // 2)``, rows C, C#, ..., B.

    As ``librosa.filters.chroma(sr=sr, n_fft=n_fft, n_chroma=n_chroma)`` (tuning 0,
    ``ctroct=5.0``, ``octwidth=2``, ``norm=2``, ``base_c=True``): per FFT bin a
    Gaussian bump around its pitch class (width one bin's spread in chroma
    bins), each bin's column scaled to unit L2 norm, then weighted by a
    Gaussian over octaves centred on octave 5 (about 880 Hz), 2 octaves wide.
    """
    hz = np.linspace(0, sr, n_fft, endpoint=False)[1:]  # every bin but DC, (n_fft - 1,)
    bins = n_chroma * np.log2(hz / (440.0 / 16))  # chroma bins above A0
    bins = np.concatenate(([bins[0] - 1.5 * n_chroma], bins))  # DC: 1.5 octaves below bin 1
    spread = np.concatenate((np.maximum(np.diff(bins), 1.0), [1.0]))
    half = np.round(n_chroma / 2)
    distance = np.remainder(bins[None, :] - np.arange(n_chroma)[:, None] + half + 10 * n_chroma, n_chroma) - half
    weights = np.exp(-0.5 * (2 * distance / spread[None, :]) ** 2)  # (n_chroma, n_fft)
    weights /= np.sqrt(np.sum(weights**2, axis=0, keepdims=True))
    weights *= np.exp(-0.5 * ((bins / n_chroma - 5.0) / 2.0) ** 2)[None, :]
    weights = np.roll(weights, -3 * (n_chroma // 12), axis=0)  # A first -> C first
    return np.ascontiguousarray(weights[:, : 1 + n_fft // 2], dtype=np.float32)
