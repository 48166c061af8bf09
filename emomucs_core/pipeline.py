"""The one inference step: windows -> stem features -> model -> Shapley values.

Used by :class:`~emomucs_core.predictor.Predictor` (on decoded windows), by the
feature cache (:func:`stem_features` only) and by cross-validation (on cached
features: :meth:`InferenceStep.from_embeddings`), so all of them use the same
feature parameters and the same absent-source (silence) level: the bundle's.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .attribution import shapley, subset_values
from .constants import SEPARATION_RATE, WINDOW_SECONDS
from .features import MelParams, features_from_audio
from .nets import EmoMucs
from .profiling import stage
from .separators import Separator


def stem_features(
    windows: np.ndarray,
    sources: Sequence[str],
    separator: Separator | None,
    params: MelParams = MelParams(),
) -> dict[str, np.ndarray]:
    """Feature arrays of every source for a batch of stereo 44.1 kHz windows.

    The separator's own features when it gives them for ``params``
    (:meth:`Separator.stem_features`, e.g. ``offline:v2``); otherwise its stem
    audio, featurised by :func:`~emomucs_core.features.features_from_audio`.

    Parameters
    ----------
    windows : float32 ``(B, 2, n)``.
    sources : wanted inputs; ``"mix"`` is the window itself, other names are stems.

    Returns
    -------
    ``{source: float32 (B, n_mels + n_chroma, frames)}``.
    """
    sources = tuple(sources)
    wanted = [s for s in sources if s != "mix"]
    if wanted and separator is None:
        raise ValueError(f"sources {wanted} need a separator")
    with stage("stem features"):
        direct = separator.stem_features(windows, sources, params) if separator is not None else None
        if direct is not None:
            return {s: direct[s] for s in sources}
        stems = {"mix": windows} if "mix" in sources else {}
        if wanted:
            with stage("separation"):
                separated = separator.separate(torch.from_numpy(np.ascontiguousarray(windows)))
            stems.update({s: separated[s].numpy() for s in wanted})
        return {s: features_from_audio(stems[s], SEPARATION_RATE, params) for s in sources}


def span_stem_features(
    spans: Sequence[tuple[np.ndarray, Sequence[int]]],
    length: int,
    sources: Sequence[str],
    separator: Separator,
    params: MelParams,
) -> dict[str, np.ndarray]:
    """Feature arrays of the windows of several spans, in order, from a separator that analyses spans.

    Parameters
    ----------
    spans : ``(audio, offsets)`` pairs: float32 ``(channels, n)`` at the separator's ``span_rate`` and each
        window's start in it (samples).
    length : samples of one window.

    Returns
    -------
    ``{source: float32 (total windows, n_mels + n_chroma, frames)}``.
    """
    with stage("stem features"):
        parts = [separator.span_features(audio, offsets, length, sources, params) for audio, offsets in spans]
    return {s: np.concatenate([p[s] for p in parts]) for s in sources}


class InferenceStep:
    """A model with its feature parameters and separator: windows in, unit values and contributions out.

    Parameters
    ----------
    model : the network (moved to ``device`` by the caller).
    mel : feature parameters the model was trained with (the bundle's).
    window_seconds : length of one model window (the bundle's).
    separator : None for mix-only models.
    device : where the model runs.
    frames : frames of one window's features (default: ``mel.frames(window_seconds)``).
    """

    def __init__(
        self,
        model: EmoMucs,
        *,
        mel: MelParams,
        window_seconds: float = WINDOW_SECONDS,
        separator: Separator | None = None,
        device: torch.device | str = "cpu",
        frames: int | None = None,
    ):
        self.model = model
        self.mel = mel
        self.window_seconds = window_seconds
        self.separator = separator
        self.device = torch.device(device)
        self.frames = frames or mel.frames(window_seconds)
        self._absent: dict[str, torch.Tensor] | None = None

    def features(self, windows: np.ndarray) -> dict[str, np.ndarray]:
        """:func:`stem_features` of the model's sources for windows ``(B, 2, n)``."""
        return stem_features(windows, self.model.sources, self.separator, self.mel)

    @property
    def analyses_spans(self) -> bool:
        """Whether overlapping windows go in as spans (:meth:`from_spans`), not one by one."""
        return self.separator is not None and self.separator.analyses_spans

    def __call__(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Of windows ``(B, 2, n)``: unit predictions ``(B, 2)``, contributions ``(B, n_sources, 2)``
        and, for a quadrant head, quadrant probabilities ``(B, 4)`` (Q1..Q4; else None)."""
        return self.from_features(self.features(windows))

    def span_features(self, spans: Sequence[tuple[np.ndarray, Sequence[int]]], length: int) -> dict[str, np.ndarray]:
        """:func:`span_stem_features` of the model's sources for ``(audio (channels, n), offsets)`` spans
        whose windows are ``length`` samples long (:func:`~emomucs_core.windows.read_spans`)."""
        return span_stem_features(spans, length, self.model.sources, self.separator, self.mel)

    def from_spans(
        self, spans: Sequence[tuple[np.ndarray, Sequence[int]]], length: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """As :meth:`__call__`, for the windows of spans (:meth:`span_features`)."""
        return self.from_features(self.span_features(spans, length))

    def from_features(self, feats: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """As :meth:`__call__`, from feature arrays ``{source: (B, rows, frames)}``."""
        with torch.inference_mode():
            x = {s: torch.from_numpy(np.asarray(f, dtype=np.float32)).to(self.device) for s, f in feats.items()}
            present = self.model.embed(x)
            probs = None
            with stage("head"):
                if self.model.cfg.head == "quadrant":
                    probs = torch.softmax(self.model.fuse(present), dim=-1).cpu().numpy()
                if not self.model.fused:
                    unit = self.model.to_unit(present[self.model.sources[0]]).cpu().numpy()
                    return unit, np.zeros((len(unit), len(self.model.sources), 2), np.float32), probs
            with stage("attribution"):
                masks, values = self.subset_values(present)
                return values[-1].numpy(), shapley(masks, values).numpy(), probs

    def subset_values(self, present: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Subset masks ``(2**n, n)`` and unit values ``(2**n, B, 2)`` (CPU) of fusion-stage features ``{s: (B, d)}``."""
        with torch.inference_mode():
            masks, values = subset_values(self.model, present, self.absent_embeddings())
        return masks.cpu(), values.cpu()

    def absent_embeddings(self) -> dict[str, torch.Tensor]:
        """Fusion-stage features of an absent source, per source: ``{source: (d,)}`` (silence at the bundle's level)."""
        if self._absent is None:
            self._absent = self.model.absent_embeddings(self.frames, self.mel.silence_db)
        return self._absent
