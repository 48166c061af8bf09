"""The separator interface: stereo 44.1 kHz windows in, per-source stem audio or stem features out."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..constants import SEPARATION_RATE, SOURCES
from ..device import choose_device
from ..features import MelParams

__all__ = ["SEPARATION_RATE", "SOURCES", "Separator", "SeparatorError", "UnknownSeparator"]


class SeparatorError(RuntimeError):
    """A separator that cannot be built or run; the message says how to fix it."""


class UnknownSeparator(SeparatorError):
    """An id that names no separator: ``name`` (``offline:v6``), ``choices`` (the ids or backends that exist)."""

    def __init__(self, name: str, choices: list[str]):
        kind = "separator backend" if ":" not in name else "separator"
        super().__init__(f"unknown {kind} {name!r} (choose {', '.join(choices)})")
        self.name, self.choices = name, choices


class Separator:
    """Interface: a batch of stereo windows in, one stem per source out.

    A backend implements :meth:`separate` (stem audio) or :meth:`stem_features`
    (features straight from its own analysis, for the feature params it supports),
    or both; :func:`emomucs_core.pipeline.stem_features` uses the features when
    the separator gives them and otherwise featurises the stem audio.

    Class attributes: :attr:`backend` and :attr:`variant` (the ``model`` of the spec) form the id and the
    spec stored in bundles; :attr:`feature_params` are the features a model
    trained on this separator uses by default; :attr:`gpu` says whether the
    backend can run on a GPU (otherwise ``device`` is always the CPU);
    :attr:`analyses_spans` says that overlapping windows of a track are analysed
    together, as one span (:meth:`span_features`, audio at :attr:`span_rate` Hz),
    and not one by one; :attr:`cpu_threads` caps torch's intra-op threads while it
    runs on the CPU (None: torch's default), for work too fine-grained to share.
    """

    backend: str = ""
    variant: str = "v1"
    feature_params: MelParams = MelParams()
    gpu: bool = False
    analyses_spans: bool = False
    span_rate: int = SEPARATION_RATE
    cpu_threads: int | None = None
    sources: tuple[str, ...] = SOURCES
    samplerate: int = SEPARATION_RATE

    def __init__(self, device: str | torch.device | None = "auto"):
        self.device = choose_device(device) if self.gpu else torch.device("cpu")

    @classmethod
    def params_of(cls, model: str) -> MelParams:
        """The :attr:`feature_params` of this class's separator for ``model``."""
        return cls.feature_params

    @property
    def spec(self) -> dict[str, Any]:
        """What :func:`~emomucs_core.separators.make_separator` needs to rebuild it (stored in bundles)."""
        return {"backend": self.backend, "model": self.variant}

    @property
    def id(self) -> str:
        """Short id such as ``demucs:htdemucs`` or ``offline:v2``."""
        return f"{self.backend}:{self.variant}"

    def separate(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stem audio of a batch of windows.

        Parameters
        ----------
        windows : torch.Tensor, float32, shape ``(batch, 2, n)`` at 44.1 kHz.

        Returns
        -------
        dict source -> torch.Tensor of shape ``(batch, 2, n)`` on the CPU.
        """
        raise SeparatorError(f"separator {self.id} gives stem features only, not stem audio")

    def stem_features(
        self, windows: np.ndarray, sources: Sequence[str], params: MelParams
    ) -> dict[str, np.ndarray] | None:
        """Feature arrays of ``sources`` (stems and ``mix``) computed without stem audio, or None.

        Parameters
        ----------
        windows : float32 ``(batch, 2, n)`` at 44.1 kHz.
        params : wanted features; None is returned when this separator cannot give them directly.

        Returns
        -------
        ``{source: float32 (batch, n_mels + n_chroma, frames)}`` or None (use :meth:`separate`).
        """
        return None

    def span_features(
        self, span: np.ndarray, offsets: Sequence[int], length: int, sources: Sequence[str], params: MelParams
    ) -> dict[str, np.ndarray]:
        """Feature arrays of the windows of one span, analysed together (when :attr:`analyses_spans`).

        Parameters
        ----------
        span : float32 ``(channels, n)`` at :attr:`span_rate` Hz (mono as the predictor reads it).
        offsets : start of each window in ``span``, in samples.
        length : samples of one window.

        Returns
        -------
        ``{source: float32 (len(offsets), n_mels + n_chroma, frames)}``.
        """
        raise SeparatorError(f"separator {self.id} analyses windows one by one, not spans")


def check_windows(windows: torch.Tensor | np.ndarray) -> None:
    """Raise ``ValueError`` unless ``windows`` is ``(batch, channels, samples)``."""
    if windows.ndim != 3:
        raise ValueError(f"expected (batch, channels, samples), got shape {tuple(windows.shape)}")
