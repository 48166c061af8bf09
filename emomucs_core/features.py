"""Log-mel spectrograms exactly as in the paper, identical for the mix and every stem."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import soxr


@dataclass(frozen=True)
class MelParams:
    """Feature parameters (paper, Sec. 3): 22050 Hz mono, FFT 512, hop 256, 96 mel bands, dB."""

    samplerate: int = 22050
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    #: Floor of the power spectrogram before dB; a silent stem is ``10*log10(amin)`` dB everywhere.
    amin: float = 1e-10

    def frames(self, seconds: float) -> int:
        """Number of frames for ``seconds`` of audio (centred STFT)."""
        return 1 + int(round(seconds * self.samplerate)) // self.hop_length

    @property
    def frame_rate(self) -> float:
        """Frames per second (Hz)."""
        return self.samplerate / self.hop_length

    @property
    def silence_db(self) -> float:
        return float(10 * np.log10(self.amin))

    def to_dict(self) -> dict:
        return asdict(self)


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


def log_mel(mono: np.ndarray, params: MelParams = MelParams()) -> np.ndarray:
    """Log-mel spectrogram of mono audio at ``params.samplerate``.

    Parameters
    ----------
    mono : np.ndarray, shape ``(..., n)``, float.

    Returns
    -------
    np.ndarray, float32, shape ``(..., n_mels, 1 + n // hop_length)``, in dB
    (reference power 1.0, so a full-scale sine is about 0 dB and silence is
    ``params.silence_db``).
    """
    import librosa

    power = librosa.feature.melspectrogram(
        y=np.asarray(mono, dtype=np.float32),
        sr=params.samplerate,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        n_mels=params.n_mels,
        power=2.0,
    )
    return librosa.power_to_db(power, ref=1.0, amin=params.amin, top_db=None).astype(np.float32)


def features_from_audio(
    audio: np.ndarray, samplerate: int, params: MelParams = MelParams()
) -> np.ndarray:
    """Log-mel of ``(..., channels, n)`` audio: downmix, resample, then :func:`log_mel`.

    Returns shape ``(..., n_mels, frames)``.
    """
    return log_mel(to_mono(audio, samplerate, params), params)
