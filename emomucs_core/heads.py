"""Output heads: how raw network outputs become a loss, probabilities, unit values and quadrants.

Three heads, one small class each (:data:`HEADS`, :func:`head_of`):

- ``regression``: 2 outputs, (valence, arousal) in [-1, 1], MSE (the paper's);
- ``logistic``: 2 logits of "high valence" and "high arousal", binary cross-entropy;
- ``quadrant``: 4 logits over Russell's quadrants Q1..Q4, cross-entropy; unit valence
  ``P(Q1) + P(Q4)``, unit arousal ``P(Q1) + P(Q2)``.

"Probabilities" are window outputs in a space where averaging over windows makes
sense: unit (V, A) ``(B, 2)`` for the first two heads, quadrant probabilities ``(B, 4)``
for the third. Unit values and quadrants are computed from them, so a clip's
result is the same whether its windows are averaged first or not. Methods taking
probabilities accept torch tensors and numpy arrays alike.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .quadrants import QUADRANTS, quadrants_of


def _stack(columns: list, like) -> np.ndarray | torch.Tensor:
    return torch.stack(columns, dim=-1) if isinstance(like, torch.Tensor) else np.stack(columns, axis=-1)


class Head:
    """Base class: subclasses set ``name`` and ``outputs`` and define the methods below."""

    name = ""
    outputs = 2

    def loss(self, raw: torch.Tensor, unit_targets: torch.Tensor) -> torch.Tensor:
        """Training loss of raw outputs ``(B, outputs)`` against unit targets ``(B, 2)``."""
        raise NotImplementedError

    def proba(self, raw: torch.Tensor) -> torch.Tensor:
        """Averageable window outputs of raw ``(B, outputs)``."""
        raise NotImplementedError

    def proba_loss(self, p: torch.Tensor, unit_targets: torch.Tensor) -> torch.Tensor:
        """The training loss expressed on (window-averaged) probabilities (validation)."""
        raise NotImplementedError

    def to_unit(self, p):
        """Unit (valence, arousal) ``(B, 2)`` in [0, 1] from probabilities."""
        return p

    def quadrants(self, p) -> list[str]:
        """Quadrant per row of probabilities."""
        return quadrants_of(np.asarray(self.to_unit(p)))


class RegressionHead(Head):
    """(valence, arousal) in [-1, 1]; unit value ``(y + 1) / 2`` clipped to [0, 1]."""

    name = "regression"

    def loss(self, raw, unit_targets):
        return F.mse_loss(raw, 2 * unit_targets - 1)

    def proba(self, raw):
        return ((raw + 1) / 2).clamp(0.0, 1.0)

    def proba_loss(self, p, unit_targets):
        return F.mse_loss(2 * p - 1, 2 * unit_targets - 1)


class LogisticHead(Head):
    """Logits of high valence / high arousal (0/1 or soft targets); unit value ``sigmoid(y)``."""

    name = "logistic"

    def loss(self, raw, unit_targets):
        return F.binary_cross_entropy_with_logits(raw, unit_targets)

    def proba(self, raw):
        return torch.sigmoid(raw)

    def proba_loss(self, p, unit_targets):
        return F.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), unit_targets)


class QuadrantHead(Head):
    """Softmax over Q1..Q4; the predicted quadrant is the most probable one."""

    name = "quadrant"
    outputs = 4

    @staticmethod
    def targets(unit_targets: torch.Tensor) -> torch.Tensor:
        """Soft quadrant distribution ``(B, 4)`` of unit (V, A) targets ``(B, 2)``.

        ``P(Q1) = v a``, ``P(Q2) = (1 - v) a``, ``P(Q3) = (1 - v)(1 - a)``, ``P(Q4) = v (1 - a)``:
        one-hot for 0/1 class targets, soft for continuous ones.
        """
        v, a = unit_targets[:, 0], unit_targets[:, 1]
        return torch.stack([v * a, (1 - v) * a, (1 - v) * (1 - a), v * (1 - a)], dim=1)

    def loss(self, raw, unit_targets):
        return -(self.targets(unit_targets) * F.log_softmax(raw, dim=1)).sum(dim=1).mean()

    def proba(self, raw):
        return torch.softmax(raw, dim=-1)

    def proba_loss(self, p, unit_targets):
        return -(self.targets(unit_targets) * p.clamp_min(1e-6).log()).sum(dim=1).mean()

    def to_unit(self, p):
        return _stack([p[..., 0] + p[..., 3], p[..., 0] + p[..., 1]], p)

    def quadrants(self, p) -> list[str]:
        return [QUADRANTS[i] for i in np.asarray(p).argmax(axis=-1)]


HEADS = {h.name: h for h in (RegressionHead(), LogisticHead(), QuadrantHead())}


def head_of(name: str) -> Head:
    """The head called ``name``; ValueError for an unknown one."""
    if name not in HEADS:
        raise ValueError(f"head must be one of {tuple(HEADS)}, not {name!r}")
    return HEADS[name]
