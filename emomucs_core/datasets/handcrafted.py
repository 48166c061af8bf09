"""Handcrafted baseline: librosa summary statistics of a clip (mean and std over time).

Computed on the central ``seconds`` (default 30) of the clip, mono at 22050 Hz,
FFT 2048, hop 512. 145 values, named by :data:`FEATURE_NAMES`:

- MFCC 1-20 and their deltas (80)
- chroma (STFT) 12 and tonnetz 6 (36)
- spectral contrast 7 bands (14)
- spectral centroid, bandwidth, roll-off (85 %), flatness, zero-crossing rate, RMS (12)
- onset strength (2) and tempo in BPM (1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio import AudioFile
from .cache import FeatureCache

#: Bumped whenever the feature list or its computation changes (part of the cache key).
VERSION = 1
SAMPLERATE = 22050
N_FFT = 2048
HOP = 512


def _names() -> list[str]:
    rows = (
        [f"mfcc{i}" for i in range(1, 21)] + [f"dmfcc{i}" for i in range(1, 21)]
        + [f"chroma{i}" for i in range(12)] + [f"tonnetz{i}" for i in range(6)]
        + [f"contrast{i}" for i in range(7)]
        + ["centroid", "bandwidth", "rolloff", "flatness", "zcr", "rms", "onset"]
    )
    return [f"{r}_{stat}" for r in rows for stat in ("mean", "std")] + ["tempo"]


#: Names of the values returned by :func:`summary_features`, in order.
FEATURE_NAMES = _names()


def load_central(path: str | Path, seconds: float = 30.0, samplerate: int = SAMPLERATE) -> np.ndarray:
    """Mono float32 of the central ``seconds`` of a file (all of it when shorter), at ``samplerate``."""
    with AudioFile(path) as audio:
        span = min(seconds, audio.duration)
        start = max(0.0, (audio.duration - span) / 2)
        return audio.read(start, span, samplerate).mean(axis=0)


def summary_features(path: str | Path, seconds: float = 30.0) -> np.ndarray:
    """Summary features of a clip: float32 ``(145,)``, see :data:`FEATURE_NAMES`.

    Raises :class:`emomucs_core.audio.AudioError` on an unreadable file.
    """
    import librosa

    y = load_central(path, seconds)
    sr = SAMPLERATE
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = S**2
    mel = librosa.feature.melspectrogram(S=power, sr=sr)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)
    chroma = librosa.feature.chroma_stft(S=power, sr=sr)
    tonnetz = librosa.feature.tonnetz(chroma=chroma, sr=sr)
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr, hop_length=HOP)[None]
    rows = [
        mfcc,
        librosa.feature.delta(mfcc),
        chroma,
        tonnetz,
        librosa.feature.spectral_contrast(S=S, sr=sr),
        librosa.feature.spectral_centroid(S=S, sr=sr),
        librosa.feature.spectral_bandwidth(S=S, sr=sr),
        librosa.feature.spectral_rolloff(S=S, sr=sr, roll_percent=0.85),
        librosa.feature.spectral_flatness(S=S),
        librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP),
        librosa.feature.rms(S=S, frame_length=N_FFT),
        onset,
    ]
    frames = min(r.shape[1] for r in rows)
    stack = np.concatenate([r[:, :frames] for r in rows], axis=0)  # (72, frames)
    stats = np.stack([stack.mean(axis=1), stack.std(axis=1)], axis=1).reshape(-1)
    tempo = np.atleast_1d(librosa.feature.tempo(onset_envelope=onset[0], sr=sr, hop_length=HOP))[:1]
    return np.nan_to_num(np.concatenate([stats, tempo])).astype(np.float32)


def cached_summary_features(path: str | Path, cache: FeatureCache, seconds: float = 30.0) -> np.ndarray:
    """:func:`summary_features` through ``cache`` (keyed by file content, :data:`VERSION` and ``seconds``)."""
    key = cache.key(path, "handcrafted", {"version": VERSION, "seconds": float(seconds)})
    stored = cache.load(key)
    if stored is not None and "features" in stored:
        return stored["features"]
    features = summary_features(path, seconds)
    cache.save(key, {"features": features})
    cache.computed += 1
    return features
