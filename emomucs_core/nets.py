"""EmoMucs networks: C1D and C2D source models and the fused EmoMucs model.

Inputs are feature arrays of shape ``(batch, n_mels + n_chroma, frames)`` per
source (:mod:`~emomucs_core.features`; ``frames = 1723`` for a 20-s window with
the paper's parameters): the CNN parts read the log-mel rows ``[:n_mels]`` only.
Every source model standardises its input per mel band with statistics stored
as buffers, so a saved model carries its own normalisation. Outputs are raw ``(valence, arousal)`` in the target
scale; :meth:`EmoMucs.to_unit` maps them to [0, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn

from .constants import SOURCES
from .descriptors import TIMBRE_GROUPS, check_groups, descriptor_size, window_descriptors
from .features import MelParams
from .heads import HEADS as HEAD_CLASSES, head_of
from .profiling import stage
from .quadrants import QUADRANTS  # noqa: F401  (the order of the quadrant head's logits)

ARCHS = ("c1d", "c2d", "desc")
FUSIONS = ("early", "mid", "late")
HEADS = tuple(HEAD_CLASSES)


@dataclass
class NetConfig:
    """Everything needed to rebuild an :class:`EmoMucs` model.

    arch : ``c1d``, ``c2d``, or ``desc`` (no CNN: every source model is its descriptor
        branch alone; needs several sources, early fusion and a linear head).
    sources : inputs, e.g. ``("vocals", "drums", "bass", "other")`` or ``("mix",)``.
    fusion : ``early``, ``mid`` (C1D only) or ``late``; unused with one source.
    head : ``regression`` (targets in [-1, 1], unit value ``(y + 1) / 2``),
        ``logistic`` (logits of "high valence/arousal", unit value ``sigmoid(y)``) or
        ``quadrant`` (4 logits over Russell's quadrants Q1 V+A+, Q2 V-A+, Q3 V-A-,
        Q4 V+A-; unit valence ``P(Q1) + P(Q4)``, unit arousal ``P(Q1) + P(Q2)``).
    n_mels : mel bands of the input; ``n_chroma``: chroma rows after them (not read by the CNNs).
    dropout : dropout inside the source models; ``head_dropout`` before linear layers.
    fusion_hidden : width of the fusion head's hidden layer; 0 makes the head linear
        (standardised input, one linear layer: an L2-regularised logistic or linear
        regression on the sources' features, fitted by L-BFGS in the trainer).
    summary : add a global branch to every source model: the per-band mean and
        standard deviation over time of its standardised input (``2 * n_mels``
        values) join the conv features ("early"), so the head sees both.
    descriptors : add the :mod:`~emomucs_core.descriptors` branch (timbre, modulation,
        rhythm and harmony statistics of the window, standardised) to the conv features.
    descriptor_groups : which descriptor groups (:data:`~emomucs_core.descriptors.GROUPS`);
        the tonal ones read the ``n_chroma`` (12) chroma rows.
    frame_rate : log-mel frames per second (Hz), for the descriptors.
    samplerate : the features' sample rate (Hz), for the extractor groups (musicnn).
    """

    arch: str = "c2d"
    sources: tuple[str, ...] = SOURCES
    fusion: str = "late"
    head: str = "regression"
    n_mels: int = 96
    n_chroma: int = 0
    dropout: float = 0.1
    head_dropout: float = 0.5
    fusion_hidden: int = 64
    c2d_pools: tuple[tuple[int, int], ...] = ((2, 4), (2, 4), (2, 4), (3, 5), (4, 4))
    summary: bool = False
    descriptors: bool = False
    descriptor_groups: tuple[str, ...] = TIMBRE_GROUPS
    frame_rate: float = MelParams().frame_rate
    samplerate: int = MelParams().samplerate
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.sources = tuple(self.sources)
        self.c2d_pools = tuple(tuple(p) for p in self.c2d_pools)
        self.descriptor_groups = check_groups(tuple(self.descriptor_groups), self.n_chroma)
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, not {self.arch!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {self.fusion!r}")
        if self.fusion == "mid" and self.arch != "c1d":
            raise ValueError("mid fusion exists for C1D only")
        if self.arch == "desc":
            if len(self.sources) < 2 or self.fusion != "early" or self.fusion_hidden != 0:
                raise ValueError("desc models need several sources, early fusion and a linear head (fusion_hidden=0)")
            self.descriptors = True
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, not {self.head!r}")
        if not self.sources:
            raise ValueError("at least one source is needed")

    @property
    def outputs(self) -> int:
        """Width of the raw output: 4 quadrant logits or 2 values (valence, arousal)."""
        return head_of(self.head).outputs

    @classmethod
    def from_dict(cls, data: dict) -> NetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["sources"] = list(self.sources)
        out["c2d_pools"] = [list(p) for p in self.c2d_pools]
        out["descriptor_groups"] = list(self.descriptor_groups)
        return out


class _Standardise(nn.Module):
    """``(x - mean) / std`` along dim 1, with buffers ``mean``, ``std`` of shape ``(n,)``.

    Inputs are ``(B, n)`` or ``(B, n, T)`` (per mel band).
    """

    def __init__(self, n: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))

    def set(self, mean, std) -> None:
        """Set the statistics (each ``(n,)``); std is floored at 1e-3."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (x.dim() - 2)
        return (x - self.mean.view(shape)) / self.std.view(shape)


class _GlobalBranch(nn.Module):
    """Global features of a window that join a source model's conv features.

    ``summary``: per-band mean and std of the standardised input (``2 * n_mels``);
    ``descriptors``: standardised :func:`~emomucs_core.descriptors.window_descriptors`.
    """

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.summary, self.descriptors, self.frame_rate = cfg.summary, cfg.descriptors, cfg.frame_rate
        self.groups, self.n_mels, self.samplerate = cfg.descriptor_groups, cfg.n_mels, cfg.samplerate
        self.size = 2 * cfg.n_mels if cfg.summary else 0
        if cfg.descriptors:
            self.desc_norm = _Standardise(descriptor_size(cfg.n_mels, self.groups))
            self.size += descriptor_size(cfg.n_mels, self.groups)

    def forward(self, raw: torch.Tensor, standardised: torch.Tensor) -> list[torch.Tensor]:
        """Features ``[(B, d), ...]`` of raw ``(B, rows, T)`` dB input and its standardised log-mel ``(B, M, T)``."""
        return self.scale(self.unscaled(raw, standardised))

    def unscaled(self, raw: torch.Tensor, standardised: torch.Tensor) -> list[torch.Tensor]:
        """:meth:`forward`'s features before the descriptors' standardisation (no parameters)."""
        out = [band_summary(standardised)] if self.summary else []
        if self.descriptors:  # the log-mel groups read rows [:n_mels], the tonal groups the chroma rows
            out.append(window_descriptors(raw, self.frame_rate, self.groups, self.n_mels, self.samplerate))
        return out

    def scale(self, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        """:meth:`unscaled`'s features with the descriptors (the last part) standardised."""
        return parts[:-1] + [self.desc_norm(parts[-1])] if self.descriptors else parts


def band_summary(x: torch.Tensor) -> torch.Tensor:
    """Per-band mean and standard deviation over time: ``(B, M, T)`` -> ``(B, 2 * M)``."""
    return torch.cat([x.mean(dim=-1), x.std(dim=-1)], dim=1)


class C2D(nn.Module):
    """VGG-style source model (Choi et al. 2017): 5 blocks of 32 3x3 kernels, GAP, linear.

    37,698 trainable parameters with 96 mel bands (paper, Table 1). Each block
    is conv -> max-pool -> batch-norm -> ELU -> dropout (pooling first is 2x
    faster on CPU and equivalent up to the BN scale sign).
    """

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.n_mels = cfg.n_mels
        self.norm = _Standardise(cfg.n_mels)
        blocks, channels = [], 1
        for pool in cfg.c2d_pools:
            blocks += [
                nn.Conv2d(channels, 32, 3, padding=1),
                nn.MaxPool2d(pool, ceil_mode=True),
                nn.BatchNorm2d(32),
                nn.ELU(),
                nn.Dropout(cfg.dropout),
            ]
            channels = 32
        self.conv = nn.Sequential(*blocks)
        self.glob = _GlobalBranch(cfg)
        early = 32 + self.glob.size
        self.feature_sizes = {"early": early, "late": cfg.outputs}
        self.drop = nn.Dropout(cfg.head_dropout)
        self.out = nn.Linear(early, cfg.outputs)

    def embed(self, x: torch.Tensor, stage: str) -> torch.Tensor:
        """Features at ``stage`` (``early``: ``(B, 32)``, ``late``: ``(B, outputs)``) of ``x`` ``(B, rows, T)``."""
        z = self.norm(x[:, : self.n_mels])
        h = self.conv(z.unsqueeze(1).contiguous(memory_format=torch.channels_last)).mean(dim=(2, 3))
        h = torch.cat([h] + self.glob(x, z), dim=1)
        if stage == "early":
            return h
        return self.out(self.drop(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x, "late")


class C1D(nn.Module):
    """1-D source model (after Delbouys et al. 2018): convolutions over time, mel bands as channels.

    Two conv layers (32 and 16 kernels of width 8), each followed by max-pool (4)
    and batch-norm; global mean and max over time (32 values, "early"); then
    FC 64 ("mid") and FC 2 ("late"), with dropout.
    """

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.glob = _GlobalBranch(cfg)
        early = 32 + self.glob.size
        self.feature_sizes = {"early": early, "mid": 64, "late": cfg.outputs}
        self.n_mels = cfg.n_mels
        self.norm = _Standardise(cfg.n_mels)
        self.conv = nn.Sequential(
            nn.Conv1d(cfg.n_mels, 32, 8),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.BatchNorm1d(32),
            nn.Conv1d(32, 16, 8),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.BatchNorm1d(16),
        )
        self.fc1 = nn.Sequential(nn.Dropout(cfg.head_dropout), nn.Linear(early, 64), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Dropout(cfg.head_dropout), nn.Linear(64, cfg.outputs))

    def embed(self, x: torch.Tensor, stage: str) -> torch.Tensor:
        z = self.norm(x[:, : self.n_mels])
        h = self.conv(z)
        h = torch.cat([h.mean(dim=-1), h.amax(dim=-1)] + self.glob(x, z), dim=1)
        if stage == "early":
            return h
        h = self.fc1(h)
        return h if stage == "mid" else self.fc2(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x, "late")


class DescriptorNet(nn.Module):
    """A source model without a CNN: the standardised descriptors of the window ("early")."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.glob = _GlobalBranch(cfg)
        self.feature_sizes = {"early": self.glob.size}

    def embed(self, x: torch.Tensor, stage: str) -> torch.Tensor:
        if stage != "early":
            raise ValueError("a descriptor model has early features only")
        return torch.cat(self.glob(x, x[:, : self.glob.n_mels]), dim=1)  # no per-band standardisation


class EmoMucs(nn.Module):
    """One source model per source, fused by two fully-connected layers.

    With a single source (the mix baselines C1D-M and C2D-M, or a single-source
    model) the source model's own output is the prediction.
    """

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        net = {"c1d": C1D, "c2d": C2D, "desc": DescriptorNet}[cfg.arch]
        self.source_nets = nn.ModuleDict({s: net(cfg) for s in cfg.sources})
        self.fused = len(cfg.sources) > 1
        if self.fused:
            width = self.source_nets[cfg.sources[0]].feature_sizes[cfg.fusion] * len(cfg.sources)
            if cfg.fusion_hidden == 0:
                self.fusion_head = nn.Sequential(_Standardise(width), nn.Linear(width, cfg.outputs))
            else:
                self.fusion_head = nn.Sequential(
                    nn.Dropout(cfg.head_dropout if cfg.fusion != "late" else 0.0),
                    nn.Linear(width, cfg.fusion_hidden),
                    nn.ELU(),
                    nn.Dropout(cfg.head_dropout),
                    nn.Linear(cfg.fusion_hidden, cfg.outputs),
                )

    @property
    def sources(self) -> tuple[str, ...]:
        return self.cfg.sources

    @property
    def stage(self) -> str:
        return self.cfg.fusion if self.fused else "late"

    def set_normalisation(self, source: str, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the per-band input statistics of ``source`` (each of shape ``(n_mels,)``)."""
        self.source_nets[source].norm.set(mean, std)

    def set_descriptor_normalisation(self, source: str, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the statistics of ``source``'s descriptors (each of shape ``(descriptor_size,)``)."""
        self.source_nets[source].glob.desc_norm.set(mean, std)

    def embed(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-source features at the fusion stage: ``{source: (B, d)}``."""
        if self.cfg.arch == "desc":  # always several sources, early fusion (NetConfig)
            return self._embed_descriptors(feats)
        out = {}
        for s in self.sources:
            with stage(f"source model ({s})"):
                out[s] = self.source_nets[s].embed(feats[s], self.stage)
        return out

    def _embed_descriptors(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """:meth:`embed` of descriptor source models, whose descriptors have no parameters: computed in one
        pass over every source's windows (the same numbers from a quarter of the tensor operations)."""
        glob = self.source_nets[self.sources[0]].glob
        x = torch.cat([feats[s] for s in self.sources])
        sizes = [len(feats[s]) for s in self.sources]
        parts = [p.split(sizes) for p in glob.unscaled(x, x[:, : glob.n_mels])]
        return {s: torch.cat(self.source_nets[s].glob.scale([p[i] for p in parts]), dim=1)
                for i, s in enumerate(self.sources)}

    @torch.no_grad()
    def absent_embeddings(self, frames: int, silence_db: float) -> dict[str, torch.Tensor]:
        """Fusion-stage features standing for an absent source: ``{source: (d,)}``.

        A silent stem (``(n_mels + n_chroma, frames)`` at ``silence_db``) through the source model;
        with a linear head, the training mean of that source's features instead (its
        standardiser's mean), because a linear model has never seen silence and
        extrapolates wildly from it.
        """
        if self.fused and self.cfg.fusion_hidden == 0:
            means = self.fusion_head[0].mean.split(
                [self.source_nets[s].feature_sizes[self.stage] for s in self.sources])
            return dict(zip(self.sources, means))
        was_training = self.training
        self.eval()
        device = next(iter(self.buffers())).device
        silent = torch.full((1, self.cfg.n_mels + self.cfg.n_chroma, frames), silence_db, device=device)
        out = {s: e[0] for s, e in self.embed({s: silent for s in self.sources}).items()}
        self.train(was_training)
        return out

    def fuse(self, embeddings: dict[str, torch.Tensor]) -> torch.Tensor:
        """Raw ``(B, outputs)`` prediction from per-source features."""
        if not self.fused:
            return embeddings[self.sources[0]]
        return self.fusion_head(torch.cat([embeddings[s] for s in self.sources], dim=1))

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """Raw ``(B, outputs)`` prediction from ``{source: (B, n_mels + n_chroma, frames)}``."""
        return self.fuse(self.embed(feats))

    def to_unit(self, raw: torch.Tensor) -> torch.Tensor:
        """Map raw outputs ``(B, outputs)`` to unit (valence, arousal) ``(B, 2)`` in [0, 1] (0.5 neutral)."""
        head = head_of(self.cfg.head)
        return head.to_unit(head.proba(raw))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
