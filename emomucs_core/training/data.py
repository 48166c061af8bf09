"""In-memory training data: per-source log-mel windows, targets, groups, quadrants.

A :class:`FeatureSet` holds, for ``N`` clips, ``K`` analysis windows per clip and
per source (float16 log-mel in dB, shape ``(N, K, n_mels, T)``). Training samples
one random window per clip per epoch (augmentation); evaluation uses all ``K``
windows and averages the ``K`` predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..constants import WINDOW_SECONDS
from ..descriptors import TIMBRE_GROUPS, window_descriptors
from ..features import MelParams
from ..nets import NetConfig
from ..quadrants import QUADRANTS


@dataclass
class FeatureSet:
    """Features and labels of ``N`` clips.

    feats : ``{source: float16 (N, K, n_mels, T)}``, log-mel in dB.
    targets : float ``(N, 2)``, (valence, arousal) in [0, 1].
    groups : ``N`` group keys (artist) for grouped splits.
    quadrants : ``N`` Russell quadrants ``Q1..Q4`` or None (continuous labels).
    ids : ``N`` clip ids (for reports); defaults to ``"0".."N-1"``.
    mel : parameters the features were computed with (rows ``[:mel.n_mels]`` are log-mel,
        the rest chroma); None: every row is a mel band and models keep their own config.
    """

    feats: dict[str, np.ndarray]
    targets: np.ndarray
    groups: list[str]
    quadrants: list[str | None] | None = None
    ids: list[str] = field(default_factory=list)
    mel: MelParams | None = None
    _descriptors: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.targets = np.asarray(self.targets, dtype=np.float32)
        n = len(self.targets)
        if self.targets.shape != (n, 2):
            raise ValueError(f"targets must be (N, 2), not {self.targets.shape}")
        shapes = {s: a.shape for s, a in self.feats.items()}
        for s, shape in shapes.items():
            if len(shape) != 4 or shape[0] != n:
                raise ValueError(f"features of {s!r} must be (N={n}, K, n_mels, T), not {shape}")
        if len({shape[1:] for shape in shapes.values()}) > 1:
            raise ValueError(f"all sources need the same (K, n_mels, T): {shapes}")
        if len(self.groups) != n:
            raise ValueError(f"{len(self.groups)} groups for {n} clips")
        if self.quadrants is None:
            self.quadrants = [None] * n
        if len(self.quadrants) != n:
            raise ValueError(f"{len(self.quadrants)} quadrants for {n} clips")
        self.ids = list(self.ids) or [str(i) for i in range(n)]

    def __len__(self) -> int:
        return len(self.targets)

    @classmethod
    def labelled(cls, feats: dict[str, np.ndarray], clips: Sequence[Any], mel: MelParams | None = None) -> FeatureSet:
        """A set of ``feats`` (``{source: (N, K, rows, T)}``) with targets, groups, quadrants and ids of ``clips``."""
        return cls(
            feats=feats,
            targets=np.array([[c.valence, c.arousal] for c in clips], dtype=np.float32),
            groups=[c.group for c in clips],
            quadrants=[c.quadrant for c in clips],
            ids=[c.id for c in clips],
            mel=mel,
        )

    def net_config(self, cfg: NetConfig) -> NetConfig:
        """``cfg`` with the input rows and frame rate of these features (unchanged when :attr:`mel` is None)."""
        if self.mel is None:
            return cfg
        return replace(cfg, n_mels=self.mel.n_mels, n_chroma=self.mel.n_chroma, frame_rate=self.mel.frame_rate)

    @property
    def n_mels(self) -> int:
        """Log-mel rows of every feature array (the rest are chroma)."""
        return self.mel.n_mels if self.mel else next(iter(self.feats.values())).shape[2]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.feats)

    @property
    def n_windows(self) -> int:
        return next(iter(self.feats.values())).shape[1]

    @property
    def frames(self) -> int:
        return next(iter(self.feats.values())).shape[3]

    @property
    def has_quadrants(self) -> bool:
        return all(q in QUADRANTS for q in self.quadrants)

    def band_stats(
        self, idx: np.ndarray, sources: tuple[str, ...] | None = None, chunk: int = 32
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per-band mean and std (dB, each ``(n_mels,)``, log-mel rows only) of ``sources`` over the clips ``idx``.

        Computed over every window and frame of those clips only (the training part),
        in float64 chunks so that 600 clips x 1723 frames need little memory.
        """
        out = {}
        idx = np.asarray(idx)
        for s in sources or self.sources:
            arr = self.feats[s]
            total = np.zeros(self.n_mels)
            squares = np.zeros(self.n_mels)
            count = 0
            for start in range(0, len(idx), chunk):
                x = arr[np.sort(idx[start : start + chunk]), :, : self.n_mels].astype(np.float64)
                total += x.sum(axis=(0, 1, 3))
                squares += (x**2).sum(axis=(0, 1, 3))
                count += x.shape[0] * x.shape[1] * x.shape[3]
            mean = total / max(count, 1)
            std = np.sqrt(np.maximum(squares / max(count, 1) - mean**2, 0.0))
            out[s] = (mean.astype(np.float32), std.astype(np.float32))
        return out

    def descriptors(
        self, source: str, frame_rate: float, groups: tuple[str, ...] = TIMBRE_GROUPS, n_mels: int | None = None,
        chunk: int = 64,
    ) -> np.ndarray:
        """Descriptors of every window of ``source``: float32 ``(N, K, descriptor_size)``.

        ``n_mels``: log-mel rows (default :attr:`n_mels`). Computed once per (source, frame rate,
        groups, mel rows) and kept.
        """
        n_mels = self.n_mels if n_mels is None else n_mels
        key = (source, frame_rate, tuple(groups), n_mels)
        if key not in self._descriptors:
            arr = self.feats[source]
            flat = [
                window_descriptors(torch.from_numpy(arr[i : i + chunk].astype(np.float32)).flatten(0, 1),
                                   frame_rate, groups, n_mels)
                for i in range(0, len(arr), chunk)
            ]
            self._descriptors[key] = torch.cat(flat).view(len(arr), arr.shape[1], -1).numpy()
        return self._descriptors[key]

    def descriptor_stats(
        self, idx: np.ndarray, sources: tuple[str, ...], frame_rate: float,
        groups: tuple[str, ...] = TIMBRE_GROUPS, n_mels: int | None = None,
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Mean and std (each ``(descriptor_size,)``) of every window's descriptors over the clips ``idx``."""
        out = {}
        for s in sources:
            d = self.descriptors(s, frame_rate, groups, n_mels)[np.asarray(idx, int)]
            d = d.reshape(-1, d.shape[-1])
            out[s] = (d.mean(axis=0), d.std(axis=0))
        return out


@dataclass
class Augment:
    """Training-time augmentation of one window (same draw for every source of a clip).

    shift : maximum circular time shift in frames (0 = off).
    freq_masks, freq_width : number of mel-band masks and their maximum width (bands).
    time_masks, time_width : number of time masks and their maximum width (frames).
    p : probability of applying the masks to a window.
    mixup : Beta(alpha, alpha) mixup of pairs in a batch; 0 = off.
    Masked cells take the window's mean value (dB).
    """

    shift: int = 32
    freq_masks: int = 1
    freq_width: int = 8
    time_masks: int = 1
    time_width: int = 40
    p: float = 0.5
    mixup: float = 0.0

    def apply(self, x: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Augment ``{source: (n_mels, T)}`` float32 windows of one clip (copies)."""
        shift = int(rng.integers(-self.shift, self.shift + 1)) if self.shift else 0
        masks = []
        if self.p and rng.random() < self.p:
            m, t = next(iter(x.values())).shape
            for _ in range(self.freq_masks):
                w = int(rng.integers(0, self.freq_width + 1))
                f0 = int(rng.integers(0, max(m - w, 0) + 1))
                masks.append((slice(f0, f0 + w), slice(None)))
            for _ in range(self.time_masks):
                w = int(rng.integers(0, min(self.time_width, t) + 1))
                t0 = int(rng.integers(0, max(t - w, 0) + 1))
                masks.append((slice(None), slice(t0, t0 + w)))
        out = {}
        for s, a in x.items():
            a = np.roll(a, shift, axis=-1) if shift else a.copy()
            if masks:
                fill = a.mean()
                for mask in masks:
                    a[mask] = fill
            out[s] = a
        return out


class WindowDataset(Dataset):
    """Torch view of a :class:`FeatureSet` restricted to clips ``idx``.

    ``train=True``: item ``i`` is one random window of clip ``idx[i]`` (augmented),
    as ``({source: float32 (n_mels, T)}, target float32 (2,), i)``.
    ``train=False``: all windows, ``({source: float32 (K, n_mels, T)}, target, i)``.
    """

    def __init__(
        self,
        data: FeatureSet,
        idx: np.ndarray,
        sources: tuple[str, ...],
        train: bool,
        augment: Augment | None = None,
        seed: int = 0,
    ):
        self.data, self.idx, self.sources = data, np.asarray(idx), tuple(sources)
        self.train, self.augment = train, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: int):
        clip = int(self.idx[i])
        target = torch.from_numpy(self.data.targets[clip])
        if not self.train:
            x = {s: torch.from_numpy(self.data.feats[s][clip].astype(np.float32)) for s in self.sources}
            return x, target, i
        k = int(self.rng.integers(self.data.n_windows))
        x = {s: self.data.feats[s][clip, k].astype(np.float32) for s in self.sources}
        if self.augment is not None:
            x = self.augment.apply(x, self.rng)
        return {s: torch.from_numpy(a) for s, a in x.items()}, target, i


def mixup(
    x: dict[str, torch.Tensor], y: torch.Tensor, alpha: float, gen: torch.Generator
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Mix each item of a batch with a shuffled partner (weight ~ Beta(alpha, alpha))."""
    if alpha <= 0 or len(y) < 2:
        return x, y
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(len(y), generator=gen)
    return {s: lam * v + (1 - lam) * v[perm] for s, v in x.items()}, lam * y + (1 - lam) * y[perm]


def load_feature_set(
    clips: Sequence[Any],
    cache: Any,
    separator_id: str,
    sources: Sequence[str],
    windows: int = 3,
    window_seconds: float = WINDOW_SECONDS,
    mel: Any = None,
    log: Any = None,
) -> tuple[FeatureSet | None, list[Any]]:
    """Read cached features of ``clips`` from a ``FeatureCache`` (nothing is computed).

    separator_id : id the entries were built with (e.g. ``offline:v1``).
    Returns the :class:`FeatureSet` of the clips found (float16 ``(N, windows, n_mels, T)``
    per source; clips with fewer windows repeat theirs cyclically; None when no clip is
    cached) and the clips not in the cache. Arrays are preallocated: memory is about one copy of the data.
    """
    from ..separators import feature_params

    mel = mel or feature_params(separator_id)
    sources = tuple(sources)
    arrays: dict[str, np.ndarray] = {}
    found, missing = [], []
    for clip in clips:
        entry = cache.lookup(clip.path, separator_id, sources, windows, mel, window_seconds)
        if entry is None:
            missing.append(clip)
            continue
        if not arrays:
            shape = (len(clips), windows) + entry[sources[0]].shape[1:]
            arrays = {s: np.empty(shape, dtype=np.float16) for s in sources}
        for s in sources:
            arrays[s][len(found)] = entry[s][np.arange(windows) % entry[s].shape[0]]
        found.append(clip)
    if missing and log:
        log(f"{len(missing)} of {len(clips)} clips are not in the feature cache; first: {missing[0].path}")
    if not found:
        return None, missing
    arrays = {s: a[: len(found)] for s, a in arrays.items()}
    return FeatureSet.labelled(arrays, found, mel), missing
