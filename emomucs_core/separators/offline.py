"""``offline:v1``: a weight-free approximation of Demucs' four-source split, stem audio out.

It needs no trained model, so it works where Demucs weights cannot be obtained: a rough stand-in for
Demucs built from textbook parts, one soft mask per source on the mixture STFT:

1. **drums** - the percussive part of a harmonic-percussive separation (median
   filtering, Fitzgerald 2010).
2. **vocals** - the foreground of the harmonic part: REPET-SIM (Rafii & Pardo
   2012), a median over the most similar frames models the repeating background
   and what it does not explain is foreground (as in librosa's "vocal
   separation" example), high-passed at about 80 Hz.
3. **bass** - the harmonic background below about 250 Hz.
4. **other** - the residual, so the four stems always sum to the input.

The masks come from the magnitude of the stereo downmix (STFT at 44.1 kHz, 4096-point Hann frame, hop
2048, bins up to 11 kHz; the bins above reuse the mean mask of 5.5-11 kHz), are applied to each channel's
STFT and inverted. Its features are then computed from each stem's audio
(:func:`~emomucs_core.features.features_from_audio`). The feature-output variants ``offline:v2`` to
``offline:v7``, which make the same kinds of masks without stem audio, are in :mod:`.variants`.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import SEPARATION_RATE, SOURCES, Separator, check_windows

#: ``offline:v1`` STFT frame and hop at 44.1 kHz, in samples.
N_FFT = 4096
HOP = 2048
#: Bins analysed (0 .. 11025 Hz); higher bins copy the mean mask of 5.5-11 kHz.
N_ANALYSED = N_FFT // 4 + 1


class OfflineSeparator(Separator):
    """Weight-free vocals/drums/bass/other split (HPSS + REPET-SIM + a low-pass), on the CPU.

    An approximation of Demucs for machines without its weights; see the module
    docstring for the method. Measured cost per 20-s stereo window, one
    thread, on the 2-core development machine (librosa 0.11): 0.46 s with the
    machine otherwise idle (``benchmarks/bench_separators.py``; about 2 s wall
    with six busy processes sharing the two cores), about 40x faster than real
    time and roughly 25x cheaper than full-size HTDemucs.

    Parameters
    ----------
    device : accepted like every backend's; the work is always on the CPU.
    hpss_kernel : HPSS median-filter lengths ``(frames, bins)``: 9 frames of 46 ms
        (harmonic, along time), 17 bins of 10.8 Hz (percussive, along frequency).
    hpss_margin : HPSS margin; > 1 leaves the ambiguous energy to ``other``.
    repeat_seconds : REPET-SIM: similar frames must be at least this far apart (s).
    vocal_margin : REPET-SIM foreground margin (librosa's example uses 10; lower keeps more).
    bass_cutoff : Hz, crossover of the bass low-pass.
    vocal_highpass : Hz, below which nothing goes to vocals.
    neighbours : REPET-SIM: similar frames whose median models the background.
    """

    backend = "offline"
    variant = "v1"

    def __init__(
        self,
        *,
        device: str = "cpu",
        hpss_kernel: int | tuple[int, int] = (9, 17),
        hpss_margin: float = 1.0,
        repeat_seconds: float = 2.0,
        vocal_margin: float = 2.0,
        bass_cutoff: float = 250.0,
        vocal_highpass: float = 80.0,
        neighbours: int = 15,
    ):
        super().__init__(device)
        self.hpss_kernel = hpss_kernel
        self.hpss_margin = hpss_margin
        self.repeat_seconds = repeat_seconds
        self.vocal_margin = vocal_margin
        self.neighbours = neighbours
        freqs = np.fft.rfftfreq(N_FFT, 1.0 / SEPARATION_RATE)
        safe = np.maximum(freqs, 1.0)
        #: (bins, 1) smooth crossover weights.
        self._lowpass = (1.0 / (1.0 + (safe / bass_cutoff) ** 8))[:, None]
        self._highpass = (1.0 / (1.0 + (vocal_highpass / safe) ** 8))[:, None]

    def separate(self, windows: torch.Tensor, *, vocals: bool = True) -> dict[str, torch.Tensor]:
        """Split ``(batch, 2, n)`` float32 windows at 44.1 kHz into ``{source: (batch, 2, n)}``.

        ``vocals=False`` skips REPET-SIM (no vocals; for an accompaniment whose vocals are known).
        """
        import librosa

        check_windows(windows)
        x = windows.detach().to("cpu", torch.float32).numpy()
        n = x.shape[-1]
        out = {s: np.zeros_like(x) for s in SOURCES}
        for b in range(x.shape[0]):
            if not np.any(x[b]) or n < N_FFT:
                out["other"][b] = x[b]
                continue
            spec = librosa.stft(x[b], n_fft=N_FFT, hop_length=HOP)  # (2, bins, frames)
            masks = self._masks(np.abs(spec.mean(axis=0)), vocals)
            for name in ("vocals", "drums", "bass"):
                out[name][b] = librosa.istft(spec * masks[name], hop_length=HOP, n_fft=N_FFT, length=n)
            out["other"][b] = x[b] - out["vocals"][b] - out["drums"][b] - out["bass"][b]
        return {s: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for s, v in out.items()}

    def _masks(self, mag: np.ndarray, vocals: bool) -> dict[str, np.ndarray]:
        """Soft masks ``{vocals, drums, bass}`` of shape ``(bins, frames)`` from the downmix magnitude."""
        import librosa

        low = mag[:N_ANALYSED].astype(np.float32)
        frames = low.shape[1]
        harm, perc = librosa.decompose.hpss(
            low, kernel_size=self.hpss_kernel, mask=True, margin=self.hpss_margin
        )
        fore = np.zeros_like(low)
        width = min(int(round(self.repeat_seconds * SEPARATION_RATE / HOP)), (frames - 1) // 2 - 1)
        if vocals and width >= 1 and frames >= 8:
            h = low * harm + 1e-8  # the offset keeps cosine similarity defined on silent frames
            background = np.minimum(h, repeating_background(h, width, self.neighbours))
            fore = librosa.util.softmask(h - background, self.vocal_margin * background, power=2)
        harm, perc, fore = (_extend(m) for m in (harm, perc, fore))
        vocals = harm * fore * self._highpass
        masks = {
            "vocals": vocals,
            "drums": perc,
            "bass": (harm - vocals) * self._lowpass,
        }
        return {k: np.nan_to_num(v, nan=0.0).astype(np.float32) for k, v in masks.items()}


def _extend(mask: np.ndarray) -> np.ndarray:
    """Extend a ``(N_ANALYSED, frames)`` mask to all ``N_FFT // 2 + 1`` bins (mean of the top octave)."""
    top = mask[N_ANALYSED // 2 :].mean(axis=0, keepdims=True)
    rest = np.repeat(top, N_FFT // 2 + 1 - N_ANALYSED, axis=0)
    return np.concatenate([mask, rest], axis=0)


def repeating_background(mag: np.ndarray, width: int, neighbours: int = 15) -> np.ndarray:
    """REPET-SIM background: per frame, the median of its most similar frames.

    Same idea as ``librosa.decompose.nn_filter(mag, aggregate=np.median,
    metric="cosine", width=width)`` with a fixed neighbour count, vectorised
    (about 4x faster on a 20-s window).

    Parameters
    ----------
    mag : np.ndarray ``(bins, frames)``, non-negative magnitudes.
    width : frames closer than this to a frame are never its neighbours.
    neighbours : how many similar frames to take (capped by what ``width`` leaves).

    Returns
    -------
    np.ndarray ``(bins, frames)``, float32.
    """
    frames = mag.shape[1]
    unit = mag / (np.linalg.norm(mag, axis=0, keepdims=True) + 1e-12)
    sim = unit.T @ unit  # (frames, frames) cosine similarity
    idx = np.arange(frames)
    sim[np.abs(idx[:, None] - idx[None, :]) < width] = -np.inf
    k = int(min(neighbours, max(1, frames - 2 * width + 1)))
    if k >= frames:
        k = frames - 1
    nearest = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # (frames, k), deterministic ties
    if k % 2 == 0 and k > 1:
        k -= 1  # odd count: the median is one element, found by a partition
    gathered = mag[:, nearest[:, :k]]  # (bins, frames, k)
    return np.partition(gathered, k // 2, axis=-1)[..., k // 2].astype(np.float32)
