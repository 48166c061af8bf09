"""musicnn (Pons & Serra, 2019) in torch: the MSD/MTT musicnn taggers as feature extractors.

A port of ``musicnn.models.build_musicnn`` (musicnn 0.1.0, ISC licence) with the
weights converted once from its TensorFlow checkpoints
(``tools/convert_musicnn.py``) into ``emomucs_core/models/musicnn-*.safetensors``.
No TensorFlow at run time; the weights load without pickle.

Input pipeline (musicnn's ``extractor.batch_data``): mono audio at 16 kHz, power
spectrogram (Hann, n_fft 512, hop 256, centred, as librosa's), 96 Slaney mel bands,
``log10(10000 * mel + 1)`` -- in float32 (musicnn casts the mel to float16 first,
which overflows and makes every clip look alike) -- then patches of 187 frames (3 s),
without overlap. :func:`musicnn_embed` runs the network on a batch of patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..features import MelParams, power_spectrogram
from ..filterbanks import mel_filterbank

#: musicnn's signal setup (``musicnn.configuration``): 16 kHz, FFT 512, hop 256, 96 mel bands.
MUSICNN_PARAMS = MelParams(samplerate=16000, n_fft=512, hop_length=256, n_mels=96)
#: Frames of one 3-s patch: ``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1``.
PATCH_FRAMES = 187
#: Epsilon of ``tf.compat.v1.layers.batch_normalization``.
BN_EPS = 1e-3

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
WEIGHTS = {"MSD_musicnn": MODELS_DIR / "musicnn-msd.safetensors",
           "MTT_musicnn": MODELS_DIR / "musicnn-mtt.safetensors"}

MSD_LABELS = ('rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists', 'dance', '00s',
              'alternative rock', 'jazz', 'beautiful', 'metal', 'chillout', 'male vocalists', 'classic rock',
              'soul', 'indie rock', 'Mellow', 'electronica', '80s', 'folk', '90s', 'chill', 'instrumental', 'punk',
              'oldies', 'blues', 'hard rock', 'ambient', 'acoustic', 'experimental', 'female vocalist', 'guitar',
              'Hip-Hop', '70s', 'party', 'country', 'easy listening', 'sexy', 'catchy', 'funk', 'electro',
              'heavy metal', 'Progressive rock', '60s', 'rnb', 'indie pop', 'sad', 'House', 'happy')
MTT_LABELS = ('guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock', 'fast', 'piano',
              'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian', 'opera', 'male', 'singing', 'vocals',
              'no vocals', 'harpsichord', 'loud', 'quiet', 'flute', 'woman', 'male vocal', 'no vocal', 'pop', 'soft',
              'sitar', 'solo', 'man', 'classic', 'choir', 'voice', 'new age', 'dance', 'male voice', 'female vocal',
              'beats', 'harp', 'cello', 'no voice', 'weird', 'country', 'metal', 'female voice', 'choral')
LABELS = {"MSD_musicnn": MSD_LABELS, "MTT_musicnn": MTT_LABELS}


# ---------------------------------------------------------------- input pipeline

def log_compress(mel: torch.Tensor) -> torch.Tensor:
    """musicnn's ``log10(10000 * mel + 1)``, in float32 (not float16 as musicnn does)."""
    return torch.log10(10000.0 * mel.float() + 1.0)


def mel_from_power(power: torch.Tensor | np.ndarray) -> torch.Tensor:
    """musicnn input ``(..., frames, 96)`` float32 from a power spectrogram ``(..., 257, frames)``.

    ``power``: ``|STFT|**2`` at 16 kHz, n_fft 512, hop 256 (e.g. a separated stem's masked
    power). Mel filters are librosa's defaults (Slaney); time is the second-last axis, as musicnn.
    """
    power = torch.as_tensor(power, dtype=torch.float32)
    mel = torch.matmul(_mel_matrix(), power)  # (..., 96, frames)
    return log_compress(mel).transpose(-1, -2).contiguous()


def musicnn_mel(mono16k: np.ndarray) -> torch.Tensor:
    """musicnn input ``(..., frames, 96)`` of mono float audio ``(..., n)`` at 16 kHz."""
    return mel_from_power(power_spectrogram(mono16k, MUSICNN_PARAMS))


def mel_from_logmel(logmel_db: torch.Tensor | np.ndarray, params: MelParams) -> torch.Tensor:
    """musicnn input ``(..., frames, 96)`` from log-mel rows in dB ``(..., n_mels, T)`` made with ``params``.

    For features that are already there (a separator's stem log-mels, e.g. ``offline:v7``'s 96 Slaney
    bands up to 11.025 kHz every 11.6 ms): each of musicnn's bands (up to 8 kHz) takes the dB value
    interpolated at its centre on the mel scale, each of its 16-ms frames the value interpolated in
    time, then ``log10(10000 * power + 1)``. Slaney-normalised bands measure power per Hz, so band
    widths and sample rates cancel out; what stays different is the STFT window (23 ms instead of
    32 ms at 22.05 kHz) -- measured against musicnn's own input in tests/test_musicnn.py.
    """
    db = torch.as_tensor(logmel_db, dtype=torch.float32)
    db = torch.matmul(_band_map(params.samplerate, params.n_mels, db.shape[-2]), db)  # (..., 96, T)
    frames = int(db.shape[-1] * params.hop_length / params.samplerate * MUSICNN_PARAMS.frame_rate)
    pos = torch.arange(frames, dtype=torch.float32) * (params.frame_rate / MUSICNN_PARAMS.frame_rate)
    lo = pos.floor().long().clamp(max=db.shape[-1] - 1)
    hi = (lo + 1).clamp(max=db.shape[-1] - 1)
    frac = pos - lo
    db = db[..., lo] * (1 - frac) + db[..., hi] * frac
    return log_compress(10.0 ** (db / 10.0)).transpose(-1, -2).contiguous()


@lru_cache(maxsize=4)
def _band_map(samplerate: int, n_mels: int, rows: int) -> torch.Tensor:
    """``(96, rows)`` linear interpolation of musicnn's band centres between the centres of ``n_mels`` bands.

    Rows past ``n_mels`` (chroma) get weight 0.
    """
    from ..filterbanks import hz_to_mel

    def centres(sr: float, n: int) -> np.ndarray:
        return np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(sr / 2)), n + 2)[1:-1]

    src = centres(samplerate, n_mels)
    dst = centres(MUSICNN_PARAMS.samplerate, MUSICNN_PARAMS.n_mels)
    out = np.zeros((len(dst), rows), dtype=np.float32)
    idx = np.clip(np.searchsorted(src, dst) - 1, 0, n_mels - 2)
    frac = np.clip((dst - src[idx]) / (src[idx + 1] - src[idx]), 0.0, 1.0)
    out[np.arange(len(dst)), idx] = 1 - frac
    out[np.arange(len(dst)), idx + 1] += frac
    return torch.from_numpy(out)


def patches(mel: torch.Tensor, frames: int = PATCH_FRAMES) -> torch.Tensor:
    """Non-overlapping patches ``(n_patches, frames, 96)`` of one mel ``(T, 96)``, as musicnn's batching.

    The tail shorter than a patch is dropped; a mel shorter than one patch is zero-padded
    (musicnn would fail on it).
    """
    if mel.shape[0] < frames:
        mel = F.pad(mel, (0, 0, 0, frames - mel.shape[0]))
    n = mel.shape[0] // frames
    return mel[: n * frames].reshape(n, frames, mel.shape[-1])


@lru_cache(maxsize=1)
def _mel_matrix() -> torch.Tensor:
    p = MUSICNN_PARAMS
    return torch.from_numpy(mel_filterbank(p.samplerate, p.n_fft, p.n_mels).astype(np.float32))


# ---------------------------------------------------------------- network

class _BatchNorm(nn.Module):
    """Inference batch-norm over the channel axis ``dim``: ``(x - mean) / sqrt(var + 1e-3) * gamma + beta``."""

    def __init__(self, channels: int, dim: int = 1):
        super().__init__()
        self.dim = dim
        for name in ("gamma", "beta", "moving_mean", "moving_variance"):
            self.register_buffer(name, torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gamma * torch.rsqrt(self.moving_variance + BN_EPS)
        shift = self.beta - self.moving_mean * scale
        shape = [1] * x.dim()
        shape[self.dim] = -1
        return x * scale.view(shape) + shift.view(shape)


def _same_pad(k: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding for stride 1: the odd sample goes after."""
    return (k - 1) // 2, k - 1 - (k - 1) // 2


class Musicnn(nn.Module):
    """musicnn: front-end (timbral 7x38, 7x67 and temporal 128/64/32 filters), dense mid-end, pooled back-end.

    Input ``(N, T, 96)`` musicnn mel (T = 187 for the shipped models' 3-s patches).
    Outputs a dict: ``logits``, ``taggram`` (sigmoid) ``(N, n_tags)``, ``penultimate`` ``(N, 200)``
    (after its batch-norm, as musicnn's ``features['penultimate']``), ``mean_pool`` and
    ``max_pool`` ``(N, 753)`` (the mid-end features pooled over time).
    """

    def __init__(self, n_tags: int = 50, midend: int = 64, backend: int = 200, n_mels: int = 96):
        super().__init__()
        timbral_f, temporal_f = int(1.6 * 128), int(1.6 * 32)
        self.bn_input = _BatchNorm(1)
        self.timbral = nn.ModuleList(nn.Conv2d(1, timbral_f, (7, int(r * n_mels))) for r in (0.4, 0.7))
        self.bn_timbral = nn.ModuleList(_BatchNorm(timbral_f) for _ in range(2))
        self.temporal = nn.ModuleList(nn.Conv2d(1, temporal_f, (k, 1)) for k in (128, 64, 32))
        self.bn_temporal = nn.ModuleList(_BatchNorm(temporal_f) for _ in range(3))
        front = 2 * timbral_f + 3 * temporal_f
        self.mid = nn.ModuleList(nn.Conv1d(c, midend, 7) for c in (front, midend, midend))
        self.bn_mid = nn.ModuleList(_BatchNorm(midend) for _ in range(3))
        pooled = front + 3 * midend
        self.bn_pool = _BatchNorm(2 * pooled)
        self.dense = nn.Linear(2 * pooled, backend)
        self.bn_dense = _BatchNorm(backend)
        self.out = nn.Linear(backend, n_tags)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.bn_input(x.float().unsqueeze(1))  # (N, 1, T, F)
        front = []
        padded = F.pad(x, (0, 0, 3, 3))
        for conv, bn in zip(self.timbral, self.bn_timbral):
            front.append(bn(F.relu(conv(padded))).amax(dim=3))  # (N, C, T)
        for conv, bn in zip(self.temporal, self.bn_temporal):
            y = conv(F.pad(x, (0, 0, *_same_pad(conv.kernel_size[0]))))
            front.append(bn(F.relu(y)).amax(dim=3))
        front = torch.cat(front, dim=1)  # (N, 561, T)
        mids = [front]
        y = None
        for i, (conv, bn) in enumerate(zip(self.mid, self.bn_mid)):
            z = bn(F.relu(conv(F.pad(mids[-1], (3, 3)))))
            y = z if i == 0 else z + y
            mids.append(y)
        feats = torch.cat(mids, dim=1)  # (N, 753, T)
        max_pool, mean_pool = feats.amax(dim=2), feats.mean(dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # TF's flatten of (753, 2)
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(flat))))
        logits = self.out(penultimate)
        return {"logits": logits, "taggram": torch.sigmoid(logits), "penultimate": penultimate,
                "mean_pool": mean_pool, "max_pool": max_pool}


def load_musicnn(model: str = "MSD_musicnn", path: Path | str | None = None) -> Musicnn:
    """The ported musicnn ``model`` ("MSD_musicnn" or "MTT_musicnn"), eval mode, float32.

    Weights from the shipped safetensors (no pickle). Raises ``FileNotFoundError`` naming the file.
    """
    from safetensors.torch import load_file

    path = Path(path) if path is not None else WEIGHTS[model]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: musicnn weights not found")
    state = load_file(str(path))
    net = Musicnn(n_tags=state["out.weight"].shape[0])
    net.load_state_dict(state)
    return net.eval()


def window_embeddings(logmel_db: torch.Tensor | np.ndarray, params: MelParams,
                      model: str = "MSD_musicnn") -> torch.Tensor:
    """musicnn on the central 3-s patch of each feature window: ``(B, 250)`` = penultimate (200) + tags (50).

    ``logmel_db``: windows ``(B, rows, T)`` whose first ``params.n_mels`` rows are log-mel in dB
    (a stem's features as a separator gives them; chroma rows are ignored). One patch per window
    keeps the cost at one musicnn call per source and window (about 65 ms on two cores).
    """
    mel = mel_from_logmel(torch.as_tensor(logmel_db)[..., : params.n_mels, :], params)  # (B, T', 96)
    if mel.shape[-2] < PATCH_FRAMES:
        mel = F.pad(mel, (0, 0, 0, PATCH_FRAMES - mel.shape[-2]))
    start = (mel.shape[-2] - PATCH_FRAMES) // 2
    out = musicnn_embed(mel[:, start : start + PATCH_FRAMES], model)
    return torch.cat([out["penultimate"], out["taggram"]], dim=-1)


#: Where the weights come from (the bundle's record names it).
PORTED_FROM = "musicnn 0.1.0 (ISC licence), TensorFlow checkpoints converted by tools/convert_musicnn.py"


def weights_digest(model: str = "MSD_musicnn") -> str:
    """sha256 (hex) of the shipped weights file of ``model``."""
    import hashlib

    return hashlib.sha256(WEIGHTS[model].read_bytes()).hexdigest()


def extractor_record(model: str = "MSD_musicnn") -> dict[str, str]:
    """What a bundle trained on these embeddings records: the network, its weights' digest and origin."""
    return {"name": "musicnn", "model": model, "weights_sha256": weights_digest(model), "ported_from": PORTED_FROM}


def check_record(record: dict) -> None:
    """Raise ``ValueError`` (one line) when the installed musicnn weights are not the ones ``record`` names."""
    model = record.get("model")
    if model not in WEIGHTS:
        raise ValueError(f"needs musicnn model {model!r}; this emomucs ships {', '.join(WEIGHTS)}")
    have = weights_digest(model) if WEIGHTS[model].is_file() else "none"
    need = record.get("weights_sha256", "")
    if have != need:
        raise ValueError(f"needs {model} weights {need[:12]}, this emomucs has {have[:12]} "
                         f"({WEIGHTS[model].name}); install the emomucs release the bundle was made with")


@lru_cache(maxsize=2)
def _cached(model: str) -> Musicnn:
    return load_musicnn(model)


def musicnn_embed(mel_patches: torch.Tensor | np.ndarray, model: str = "MSD_musicnn") -> dict[str, torch.Tensor]:
    """Run musicnn on patches ``(N, 187, 96)`` (from :func:`patches`); the :class:`Musicnn` outputs.

    ``penultimate`` ``(N, 200)``, ``taggram`` ``(N, 50)``, ``mean_pool``/``max_pool`` ``(N, 753)``.
    """
    with torch.inference_mode():
        return _cached(model)(torch.as_tensor(mel_patches, dtype=torch.float32))
