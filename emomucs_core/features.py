"""Per-source feature arrays: log-mel (paper) plus optional chroma rows, from audio or from power.

A feature array has shape ``(..., n_mels + n_chroma, frames)``: rows ``[:n_mels]``
are the log-mel spectrogram in dB (``10*log10(max(p, amin))``, reference power
1.0), rows ``[n_mels:]`` chroma power in dB (``10*log10(p + amin)``), pitch
classes C, C#, ..., B. Both come from one power spectrogram, so a separator
that has the power of each stem (``offline:v2``) skips the audio entirely.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import numpy as np
import soxr
import torch
import torch.nn.functional as F

from .filterbanks import chroma_filterbank, mel_filterbank


@dataclass(frozen=True)
class MelParams:
    """Feature parameters. Defaults: the paper's (Sec. 3): 22050 Hz mono, FFT 512, hop 256, 96 mel bands.

    n_chroma : chroma rows after the mel rows (0: log-mel only, as in the paper and ``offline:v1``).
    amin : floor of the power before dB; a silent stem is ``10*log10(amin)`` dB everywhere.
    chroma_n_fft, chroma_hop_length : FFT length and hop of the chroma rows when they are not
        ``n_fft`` and ``hop_length`` (0: the same): short frames for the mel rows' timing, long ones
        for the chroma's pitch resolution. A longer chroma hop (a multiple of ``hop_length``) is
        interpolated linearly onto the mel rows' frames.
    """

    samplerate: int = 22050
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    amin: float = 1e-10
    n_chroma: int = 0
    chroma_n_fft: int = 0
    chroma_hop_length: int = 0

    def frames(self, seconds: float) -> int:
        """Number of frames for ``seconds`` of audio (centred STFT)."""
        return 1 + int(round(seconds * self.samplerate)) // self.hop_length

    @property
    def frame_rate(self) -> float:
        """Frames per second (Hz)."""
        return self.samplerate / self.hop_length

    @property
    def hop_seconds(self) -> float:
        """Seconds from one frame to the next (a span's window starts lie on this grid)."""
        return self.hop_length / self.samplerate

    @property
    def rows(self) -> int:
        """Rows of a feature array: ``n_mels + n_chroma``."""
        return self.n_mels + self.n_chroma

    @property
    def chroma_stft(self) -> "MelParams":
        """These parameters with the chroma rows' FFT length and hop as ``n_fft`` and ``hop_length``
        (``self`` when the chroma rows share the mel rows' STFT)."""
        if not (self.chroma_n_fft or self.chroma_hop_length):
            return self
        return replace(self, n_fft=self.chroma_n_fft or self.n_fft,
                       hop_length=self.chroma_hop_length or self.hop_length, chroma_n_fft=0, chroma_hop_length=0)

    @property
    def silence_db(self) -> float:
        return float(10 * np.log10(self.amin))

    def to_dict(self) -> dict:
        out = asdict(self)
        # Keys (cache, bundles) of older features stay as they were.
        for key in ("n_chroma", "chroma_n_fft", "chroma_hop_length"):
            if not out[key]:
                del out[key]
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
    """Power ``|STFT|**2`` ``(..., n_fft // 2 + 1, 1 + n // hop_length)`` of mono ``(..., n)`` audio.

    Contiguous, each bin's frames side by side: torch's STFT lays each frame's bins side by
    side, and the masks multiplied onto the power by bin then read it across the grain
    (``offline:v7``'s stem powers of a 27-s span: 12 ms against 1.4 ms, one thread).
    """
    spec = stft(torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32)), params)
    return (spec.real.square() + spec.imag.square()).contiguous()


def features_from_power(
    power: torch.Tensor, params: MelParams = MelParams(), chroma_power: torch.Tensor | None = None
) -> np.ndarray:
    """Feature array ``(..., n_mels + n_chroma, frames)`` (dB, float32) of a power spectrogram.

    ``power`` has shape ``(..., bins, frames)`` at ``params.samplerate``, with
    ``bins >= n_fft // 2 + 1``: rows past ``n_fft // 2`` must be zero (padding).
    With ``params.chroma_n_fft`` or ``chroma_hop_length``, the chroma rows come from
    ``chroma_power``, the power spectrogram of ``params.chroma_stft`` (interpolated in time onto
    ``power``'s frames).
    Mel filters equal librosa's (Slaney), chroma filters ``librosa.filters.chroma``
    (C first, its default octave weighting; both built by :mod:`.filterbanks`),
    so the mel rows equal ``librosa.power_to_db(librosa.feature.melspectrogram(...))``.
    """
    power = power.float()
    mel_blocks = _mel_blocks(params, power.shape[-2])
    mel = torch.cat([weights @ power[..., lo:hi, :] for lo, hi, weights in mel_blocks], dim=-2)
    mel = 10.0 * torch.log10(mel.clamp_min(params.amin))
    if not params.n_chroma:
        return mel.numpy()
    own = params.chroma_stft
    if own is not params:
        if chroma_power is None:
            raise ValueError(f"the chroma rows need the power of their own STFT (FFT {own.n_fft}, "
                             f"hop {own.hop_length})")
        power = chroma_power.float()
    chroma = _chroma_filters(own, power.shape[-2]) @ power
    if own.hop_length != params.hop_length:
        chroma = interpolate_frames(chroma, own.hop_length // params.hop_length, mel.shape[-1])
    chroma = 10.0 * torch.log10(chroma + params.amin)
    return torch.cat([mel, chroma], dim=-2).numpy()


def interpolate_frames(x: torch.Tensor, step: int, frames: int) -> torch.Tensor:
    """``(..., T)`` frames ``step`` output frames apart, linearly interpolated onto ``frames`` output frames.

    Output frame ``o`` lies at input frame ``o / step``; past the last input frame, it is held.
    """
    extra = -(-(frames - 1) // step) - (x.shape[-1] - 1)  # input frames missing to reach the last output frame
    if extra > 0:  # hold the last frame
        x = torch.cat([x, x[..., -1:].expand(*x.shape[:-1], extra)], dim=-1)
    flat = x.reshape(-1, 1, x.shape[-1])
    size = (x.shape[-1] - 1) * step + 1
    out = F.interpolate(flat, size=size, mode="linear", align_corners=True) if size > 1 else flat
    return out[..., :frames].reshape(*x.shape[:-1], frames)


def log_mel(mono: np.ndarray, params: MelParams = MelParams()) -> np.ndarray:
    """Feature array of mono audio ``(..., n)`` at ``params.samplerate``.

    Returns float32 ``(..., n_mels + n_chroma, 1 + n // hop_length)`` in dB (reference
    power 1.0: a full-scale sine is about 0 dB, silence is ``params.silence_db``).
    """
    own = params.chroma_stft
    chroma_power = power_spectrogram(mono, own) if own is not params else None
    return features_from_power(power_spectrogram(mono, params), params, chroma_power)


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
def _mel_blocks(params: MelParams, bins: int) -> list[tuple[int, int, torch.Tensor]]:
    """Mel filters (Slaney) as banded blocks ``[(lo, hi, (rows, hi - lo))]``.

    A block of :data:`_MEL_BLOCK` consecutive mel filters is non-zero on bins
    ``lo:hi`` only, so the mel rows cost about a tenth of a dense product.
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
    return blocks


@lru_cache(maxsize=8)
def _chroma_filters(params: MelParams, bins: int) -> torch.Tensor:
    """Chroma filters ``(n_chroma, bins)`` of ``params.n_fft`` (dense; zero past ``n_fft // 2``)."""
    fb = chroma_filterbank(params.samplerate, params.n_fft, params.n_chroma)
    if bins < fb.shape[1]:
        raise ValueError(f"power has {bins} bins, fewer than the {fb.shape[1]} of a {params.n_fft}-point STFT")
    return torch.from_numpy(np.pad(fb, ((0, 0), (0, bins - fb.shape[1]))))
