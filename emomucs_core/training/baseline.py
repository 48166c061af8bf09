"""Handcrafted-feature baseline: standardise + logistic regression under the same grouped folds.

``kind="quadrant"``: one multinomial classifier over Q1..Q4 (worked best on 4q-dev);
unit valence = P(Q1) + P(Q4), unit arousal = P(Q1) + P(Q2), predicted quadrant = argmax.
``kind="binary"``: two binary classifiers (valence > 0.5, arousal > 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .crossval import grouped_folds
from .metrics import QUADRANTS, evaluate, quadrants_of, summarise
from ..heads import head_of


@dataclass
class BaselineResult:
    """Out-of-fold results of the baseline (same fields as the report rows of :class:`CVResult`)."""

    name: str
    n_params: int
    folds: list[dict] = field(default_factory=list)
    summary: dict[str, dict[str, float]] = field(default_factory=dict)
    preds: np.ndarray | None = None
    pred_quadrants: list[str | None] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "config": {"arch": "logreg", "sources": ["handcrafted"]}, "mode": "full",
                "n_params": self.n_params, "summary": self.summary, "folds": self.folds,
                "preds": np.where(np.isnan(self.preds), None, np.round(self.preds, 6)).tolist()}


def make_classifier(C: float = 0.01):
    """``StandardScaler`` + ``LogisticRegression(C)`` (multinomial for more than 2 classes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))


def baseline_cv(
    X: np.ndarray,
    targets: np.ndarray,
    groups: Sequence[str],
    quadrants: Sequence[str | None] | None = None,
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None,
    k: int = 5,
    seed: int = 0,
    C: float = 0.01,
    kind: str = "quadrant",
    name: str | None = None,
) -> BaselineResult:
    """Grouped cross-validation of the baseline on features ``X`` ``(N, F)``.

    targets : unit ``(N, 2)``; quadrants : ``Q1..Q4`` (default: from the targets' signs).
    folds : (train, test) pairs (default :func:`grouped_folds` with ``k``, ``seed``: the same
    folds the CNNs get from ``outer_folds`` for the same data).
    """
    if kind not in ("quadrant", "binary"):
        raise ValueError(f"kind must be 'quadrant' or 'binary', not {kind!r}")
    X = np.nan_to_num(np.asarray(X, float))
    targets = np.asarray(targets, float)
    if quadrants is None or any(q not in QUADRANTS for q in quadrants):
        quadrants = quadrants_of(targets)
    quadrants = np.asarray(quadrants)
    folds = folds if folds is not None else grouped_folds(list(groups), list(quadrants), k, seed)
    result = BaselineResult(name or f"handcrafted-logreg-{kind}", _n_params(X.shape[1], kind))
    result.preds = np.full((len(X), 2), np.nan)
    result.pred_quadrants = [None] * len(X)
    for i, (tr, te) in enumerate(folds):
        unit, pq = _fit_predict(X[tr], quadrants[tr], X[te], C, kind)
        result.preds[te] = unit
        for j, q in zip(te, pq):
            result.pred_quadrants[j] = q
        metrics = evaluate(targets[te], unit, list(quadrants[te]), pq)
        result.folds.append({"fold": i, "metrics": metrics, "test_idx": np.asarray(te).tolist()})
    result.summary = summarise(f["metrics"] for f in result.folds)
    return result


def _fit_predict(X_tr, q_tr, X_te, C, kind) -> tuple[np.ndarray, list[str]]:
    """Unit (V, A) ``(n, 2)`` and predicted quadrants for ``X_te``."""
    if kind == "quadrant":
        clf = make_classifier(C).fit(X_tr, q_tr)
        proba = np.zeros((len(X_te), 4))
        proba[:, [QUADRANTS.index(c) for c in clf.classes_]] = clf.predict_proba(X_te)
        head = head_of("quadrant")
        return head.to_unit(proba), head.quadrants(proba)
    cols = []
    for positive in (("Q1", "Q4"), ("Q1", "Q2")):
        y = np.isin(q_tr, positive)
        if y.all() or not y.any():
            cols.append(np.full(len(X_te), float(y.mean())))
        else:
            cols.append(make_classifier(C).fit(X_tr, y).predict_proba(X_te)[:, 1])
    unit = np.stack(cols, axis=1)
    return unit, quadrants_of(unit)


def _n_params(n_features: int, kind: str) -> int:
    return 4 * (n_features + 1) if kind == "quadrant" else 2 * (n_features + 1)
