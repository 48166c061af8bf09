"""Per-source feature arrays: log-mel (paper) plus optional chroma rows, from audio or from power.

A feature array has shape ``(..., n_mels + n_chroma, frames)``: rows ``[:n_mels]``
are the log-mel spectrogram in dB (``10*log10(max(p, amin))``, reference power
1.0), rows ``[n_mels:]`` chroma power in dB (``10*log10(p + amin)``), pitch
classes C, C#, ..., B. Both come from one power spectrogram, so a separator
that has the power of each stem (``offline:v2``) skips the audio entirely.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import soxr
import torch

from .filterbanks import chroma_filterbank, mel_filterbank


@dataclass(frozen=True)
class MelParams:
    """Feature parameters. Defaults: the paper's (Sec. 3): 22050 Hz mono, FFT 512, hop 256, 96 mel bands.

    n_chroma : chroma rows after the mel rows (0: log-mel only, as in the paper and ``offline:v1``).
    amin : floor of the power before dB; a silent stem is ``10*log10(amin)`` dB everywhere.
    """

    samplerate: int = 22050
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    amin: float = 1e-10
    n_chroma: int = 0

    def frames(self, seconds: float) -> int:
        """Number of frames for ``seconds`` of audio (centred STFT)."""
        return 1 + int(round(seconds * self.samplerate)) // self.hop_length

    @property
    def frame_rate(self) -> float:
        """Frames per second (Hz)."""
        return self.samplerate / self.hop_length

    @property
    def rows(self) -> int:
        """Rows of a feature array: ``n_mels + n_chroma``."""
        return self.n_mels + self.n_chroma

    @property
    def silence_db(self) -> float:
        return float(10 * np.log10(self.amin))

    def to_dict(self) -> dict:
        out = asdict(self)
        if not self.n_chroma:  # keys (cache, bundles) of chroma-free features stay as before
            del out["n_chroma"]
        return out


def to_mono(audio: np.ndarray, samplerate: int, params: MelParams = MelParams()) -> np.ndarray:
    """Downmix ``(..., channels, n)`` audio at ``samplerate`` Hz to mono at ``params.samplerate``.

    Returns float32 of shape ``(..., m)``.
    """
    mono = np.asarray(audio, dtype=np.float32).mean(axis=-2)
    if samplerate == params.samplerate:
        return mono
    flat = mono.reshape(-1, mono.shape[-1])
    out = np.stack([soxr.resample(x, samplerate, params.samplerate, quality="HQ") for x in flat])
    return out.reshape(*mono.shape[:-1], out.shape[-1]).astype(np.float32)


def stft(mono: torch.Tensor, params: MelParams) -> torch.Tensor:
    """Complex STFT ``(..., n_fft // 2 + 1, frames)`` of ``(..., n)`` audio: Hann, centred, zero-padded.

    The same frames as ``librosa.stft(..., pad_mode="constant")``.
    """
    shape = mono.shape
    spec = torch.stft(mono.reshape(-1, shape[-1]).float(), params.n_fft, params.hop_length,
                      window=_hann(params.n_fft), center=True, pad_mode="constant", return_complex=True)
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


def power_spectrogram(mono: np.ndarray, params: MelParams = MelParams()) -> torch.Tensor:
    """Power ``|STFT|**2`` ``(..., n_fft // 2 + 1, 1 + n // hop_length)`` of mono ``(..., n)`` audio."""
    spec = stft(torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32)), params)
    return spec.real.square() + spec.imag.square()


def features_from_power(power: torch.Tensor, params: MelParams = MelParams()) -> np.ndarray:
    """Feature array ``(..., n_mels + n_chroma, frames)`` (dB, float32) of a power spectrogram.

    ``power`` has shape ``(..., bins, frames)`` at ``params.samplerate``, with
    ``bins >= n_fft // 2 + 1``: rows past ``n_fft // 2`` must be zero (padding).
    Mel filters equal librosa's (Slaney), chroma filters ``librosa.filters.chroma``
    (C first, its default octave weighting; both built by :mod:`.filterbanks`),
    so the mel rows equal ``librosa.power_to_db(librosa.feature.melspectrogram(...))``.
    """
    mel_blocks, chroma_fb = _filterbanks(params, power.shape[-2])
    power = power.float()
    mel = torch.cat([weights @ power[..., lo:hi, :] for lo, hi, weights in mel_blocks], dim=-2)
    mel = 10.0 * torch.log10(mel.clamp_min(params.amin))
    if chroma_fb is None:
        return mel.numpy()
    chroma = 10.0 * torch.log10(chroma_fb @ power + params.amin)
    return torch.cat([mel, chroma], dim=-2).numpy()


def log_mel(mono: np.ndarray, params: MelParams = MelParams()) -> np.ndarray:
    """Feature array of mono audio ``(..., n)`` at ``params.samplerate``.

    Returns float32 ``(..., n_mels + n_chroma, 1 + n // hop_length)`` in dB (reference
    power 1.0: a full-scale sine is about 0 dB, silence is ``params.silence_db``).
    """
    return features_from_power(power_spectrogram(mono, params), params)


def features_from_audio(
    audio: np.ndarray, samplerate: int, params: MelParams = MelParams()
) -> np.ndarray:
    """Feature array of ``(..., channels, n)`` audio: downmix, resample, then :func:`log_mel`.

    Returns shape ``(..., n_mels + n_chroma, frames)``.
    """
    return log_mel(to_mono(audio, samplerate, params), params)


@lru_cache(maxsize=8)
def _hann(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft)


#: Mel filters per block of the banded mel matrix (each block multiplies only the bins it covers).
_MEL_BLOCK = 4


@lru_cache(maxsize=8)
def _filterbanks(params: MelParams, bins: int) -> tuple[list[tuple[int, int, torch.Tensor]], torch.Tensor | None]:
    """Mel filters (Slaney) as banded blocks ``[(lo, hi, (rows, hi - lo))]`` and chroma filters ``(n_chroma, bins)``.

    A block of :data:`_MEL_BLOCK` consecutive mel filters is non-zero on bins
    ``lo:hi`` only, so the mel rows cost about a tenth of a dense product;
    the chroma filters (zero past ``n_fft // 2``) are dense.
    """
    mel = mel_filterbank(params.samplerate, params.n_fft, params.n_mels)
    if bins < mel.shape[1]:
        raise ValueError(f"power has {bins} bins, fewer than the {mel.shape[1]} of a {params.n_fft}-point STFT")
    blocks = []
    for start in range(0, params.n_mels, _MEL_BLOCK):
        weights = mel[start : start + _MEL_BLOCK]
        used = np.flatnonzero(weights.any(axis=0))
        lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        blocks.append((lo, hi, torch.from_numpy(np.ascontiguousarray(weights[:, lo:hi]))))
    chroma = None
    if params.n_chroma:
        fb = chroma_filterbank(params.samplerate, params.n_fft, params.n_chroma)
        chroma = torch.from_numpy(np.pad(fb, ((0, 0), (0, bins - fb.shape[1]))))
    return blocks, chroma
