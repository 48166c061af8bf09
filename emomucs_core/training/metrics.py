"""Evaluation metrics: RMSE and R² per dimension, quadrant accuracy, sign balanced accuracy.

Targets and predictions are unit values in [0, 1] (0.5 neutral), shape ``(N, 2)``
with columns (valence, arousal). Russell quadrants: Q1 V+A+, Q2 V-A+, Q3 V-A-, Q4 V+A-.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ..quadrants import QUADRANTS, quadrants_of

DIMS = ("valence", "arousal")
#: Metric keys of :func:`evaluate`, in report order.
KEYS = (
    "valence_rmse", "valence_r2", "arousal_rmse", "arousal_r2",
    "quadrant_acc", "valence_bacc", "arousal_bacc",
)


def rmse(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Root mean squared error per column: ``(N, D)`` -> ``(D,)``."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    return np.sqrt(((y - p) ** 2).mean(axis=0))


def r2(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Coefficient of determination per column ``1 - SS_res / SS_tot``; NaN when ``y`` is constant."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    ss_res = ((y - p) ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), np.nan)


def balanced_accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Mean recall over the classes present in ``y_true``; NaN when empty."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(y_true)
    if not len(classes):
        return float("nan")
    return float(np.mean([(y_pred[y_true == c] == c).mean() for c in classes]))


def evaluate(
    targets: np.ndarray,
    preds: np.ndarray,
    quadrants: Sequence[str | None] | None = None,
    pred_quadrants: Sequence[str] | None = None,
) -> dict[str, float]:
    """All metrics of unit predictions ``(N, 2)`` against unit targets ``(N, 2)``.

    quadrants : true quadrants; when missing, derived from the targets with :func:`~emomucs_core.quadrants.quadrant_of`.
    pred_quadrants : predicted quadrants (a quadrant classifier); default: signs of ``preds``.
    Sign balanced accuracies use the true quadrants' signs (or the targets').
    """
    targets, preds = np.asarray(targets, float), np.asarray(preds, float)
    out: dict[str, float] = {}
    for j, dim in enumerate(DIMS):
        out[f"{dim}_rmse"] = float(rmse(targets[:, j : j + 1], preds[:, j : j + 1])[0])
        out[f"{dim}_r2"] = float(r2(targets[:, j : j + 1], preds[:, j : j + 1])[0])
    if quadrants is None or any(q not in QUADRANTS for q in quadrants):
        quadrants = quadrants_of(targets)
    pred_q = list(pred_quadrants) if pred_quadrants is not None else quadrants_of(preds)
    true_q = np.asarray(quadrants)
    out["quadrant_acc"] = float((true_q == np.asarray(pred_q)).mean()) if len(true_q) else float("nan")
    true_v = np.isin(true_q, ("Q1", "Q4"))
    true_a = np.isin(true_q, ("Q1", "Q2"))
    out["valence_bacc"] = balanced_accuracy(true_v, preds[:, 0] >= 0.5)
    out["arousal_bacc"] = balanced_accuracy(true_a, preds[:, 1] >= 0.5)
    return out


def summarise(per_fold: Iterable[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and (population) std over folds: ``{key: {"mean": m, "std": s}}``."""
    per_fold = list(per_fold)
    keys = [k for k in per_fold[0] if all(k in f for f in per_fold)] if per_fold else []
    out = {}
    for k in keys:
        vals = np.array([f[k] for f in per_fold], float)
        out[k] = {"mean": float(np.nanmean(vals)), "std": float(np.nanstd(vals))}
    return out


def confusion_matrix(true: Sequence[str], pred: Sequence[str]) -> np.ndarray:
    """Counts ``(4, 4)``: rows true Q1..Q4, columns predicted Q1..Q4."""
    out = np.zeros((4, 4), dtype=int)
    for t, p in zip(true, pred):
        out[QUADRANTS.index(t), QUADRANTS.index(p)] += 1
    return out


def brier_score(p: np.ndarray, quadrants: Sequence[str]) -> float:
    """Multi-class Brier score: mean over clips of ``sum_q (p_q - [q is true])^2`` (0 best, 2 worst)."""
    onehot = np.zeros_like(np.asarray(p, float))
    onehot[np.arange(len(onehot)), [QUADRANTS.index(q) for q in quadrants]] = 1.0
    return float(((np.asarray(p, float) - onehot) ** 2).sum(axis=1).mean())


def reliability_table(p: np.ndarray, quadrants: Sequence[str], bins: int = 10) -> dict:
    """Reliability of the top quadrant probability: per confidence bin the count, mean confidence and accuracy.

    Returns ``{"bins": [{"low", "high", "count", "confidence", "accuracy"}], "ece": float}``
    (expected calibration error: count-weighted mean of ``|accuracy - confidence|``).
    """
    p = np.asarray(p, float)
    conf = p.max(axis=1)
    correct = np.array(QUADRANTS)[p.argmax(axis=1)] == np.asarray(quadrants)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = which == b
        row = {"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(m.sum()),
               "confidence": float(conf[m].mean()) if m.any() else float("nan"),
               "accuracy": float(correct[m].mean()) if m.any() else float("nan")}
        if m.any():
            ece += m.mean() * abs(row["accuracy"] - row["confidence"])
        rows.append(row)
    return {"bins": rows, "ece": float(ece)}
