"""Checks of the audio actually analysed: silence, very quiet and band-limited input.

They run on the windows the model is given (after looping), so a verdict is
about what the model sees, not about parts of the file it never reads. How the
thresholds were chosen is in docs/architecture.md.
"""

from __future__ import annotations

import numpy as np

from .windows import SILENCE_DB, inaudible

#: Mean window level (dBFS, RMS) below which the result gets a "very quiet" warning.
QUIET_DB = -35.0
#: Estimated cut-off frequency (Hz) below which the result gets a "band-limited" warning.
BAND_LIMIT_HZ = 6000.0
#: The cut-off is the highest frequency within this many dB of the 100 Hz-4 kHz level.
_CUTOFF_RANGE_DB = 60.0
#: Seconds from the middle of a window whose spectrum gives its cut-off.
CUTOFF_SECONDS = 5.0


def level_db(audio: np.ndarray) -> float:
    """RMS level in dBFS of ``audio`` ``(channels, n)``, channels averaged first; -200 for digital silence."""
    mono = audio.mean(axis=0) if audio.ndim == 2 else audio
    return float(10 * np.log10(np.mean(np.square(mono, dtype=np.float64)) + 1e-20))


def cutoff_hz(audio: np.ndarray, samplerate: int) -> float:
    """Highest frequency (Hz) where the spectrum of ``audio`` ``(channels, n)`` has energy.

    Welch power spectrum (4096-point segments) of the channel mean over the middle
    :data:`CUTOFF_SECONDS` (a quarter of the cost of a whole 20-s window); the cut-off is
    the highest bin less than ``_CUTOFF_RANGE_DB`` below the 90th percentile of the
    100 Hz-4 kHz bins. Music sampled at 8 kHz gives about 3.9 kHz; at 44.1 kHz, the
    encoder's low-pass (11-20 kHz).
    """
    mono = audio.mean(axis=0) if audio.ndim == 2 else audio
    keep = int(CUTOFF_SECONDS * samplerate)
    if mono.size > keep:
        mono = mono[(mono.size - keep) // 2 :][:keep]
    freqs, power = welch(mono, samplerate, nperseg=4096)
    db = 10 * np.log10(power + 1e-30)
    reference = percentile(db[(freqs > 100) & (freqs < 4000)], 90)
    return float(freqs[np.flatnonzero(db > reference - _CUTOFF_RANGE_DB)[-1]])


def percentile(x: np.ndarray, q: float) -> float:
    """``np.percentile(x, q)`` (linear interpolation) of a 1-D array, by a partial sort (equal up to rounding).

    numpy's own imports ``numpy.ma`` on its first call: 0.12 s of CPU in every worker's first file.
    """
    k = q / 100 * (x.size - 1)
    lo = int(k)
    hi, t = min(lo + 1, x.size - 1), x.dtype.type(k - lo)  # in x's precision, as numpy
    part = np.partition(x, (lo, hi))
    a, b = part[lo], part[hi]
    return float(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t)  # numpy's two-sided lerp


def welch(x: np.ndarray, samplerate: float, *, nperseg: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density of ``x`` ``(n,)``: frequencies (Hz) ``(nperseg // 2 + 1,)`` and power per Hz.

    As ``scipy.signal.welch(x, samplerate, nperseg=nperseg)`` (periodic Hann window,
    half overlap, each segment's mean removed, one-sided density, mean over
    segments), computed in ``x``'s float precision; numpy only, since importing
    ``scipy.signal`` costs a worker about 1.2 s of CPU and 106 MiB.
    """
    nperseg = min(nperseg, x.shape[-1])
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nperseg) / nperseg)).astype(x.dtype)
    segments = np.lib.stride_tricks.sliding_window_view(x, nperseg)[:: nperseg - nperseg // 2]
    spectrum = np.fft.rfft((segments - segments.mean(axis=-1, keepdims=True)) * window, axis=-1)
    power = np.mean(spectrum.real**2 + spectrum.imag**2, axis=0) / (samplerate * np.sum(window**2))
    power[1 : None if nperseg % 2 else -1] *= 2  # one-sided: every bin but DC (and Nyquist) twice
    return np.fft.rfftfreq(nperseg, 1.0 / samplerate), power


def check_windows(windows: np.ndarray | list[np.ndarray], samplerate: int) -> tuple[np.ndarray, list[str]]:
    """Which windows to analyse, and warnings about them.

    Parameters
    ----------
    windows : K float32 ``(2, n)`` arrays (or one ``(K, 2, n)`` array) at ``samplerate`` Hz.

    Returns
    -------
    keep : bool ``(K,)``, False for silent windows (level below ``SILENCE_DB``).
    warnings : one-line strings: silent windows left out, very quiet input, band-limited input.

    Raises :class:`AudioError` when every window is silent or too quiet to analyse.
    """
    levels = np.array([level_db(w) for w in windows])
    keep = levels > SILENCE_DB
    if not keep.any():
        raise inaudible(float(levels.max()), " in the analysed windows")
    warnings = []
    if not keep.all():
        warnings.append(f"{int((~keep).sum())} of {len(keep)} windows silent, left out")
    level = float(levels[keep].mean())
    if level < QUIET_DB:
        warnings.append(f"very quiet: {level:.0f} dBFS in the analysed windows")
    cutoff = min(cutoff_hz(w, samplerate) for w, k in zip(windows, keep) if k)
    if cutoff < BAND_LIMIT_HZ:
        warnings.append(f"band-limited: no energy above {cutoff / 1000:.1f} kHz")
    return keep, warnings
