"""Honest model selection: every choice made from data happens inside the training part.

The protocol, as code:

- :class:`DescriptorTable` holds the per-window descriptors of every clip (all
  groups, every source), the quadrant labels and the artists.
- :func:`nested_cv` splits it into artist-grouped outer folds. For each fold it
  builds a :class:`TrainingPart`, a copy of the training clips' rows and nothing
  else, and hands it to a :class:`Selector`; the selector runs its own grouped
  inner folds on that part, chooses the descriptor groups and the L2 penalty
  (one-standard-error rule: the simplest candidate within one standard error of
  the best inner log loss), fits the calibration (temperature and class biases)
  on the inner out-of-fold predictions, and refits the chosen classifier on the
  whole part. Only then does :func:`nested_cv` score the returned
  :class:`Selection` on the test clips. The selector never receives an index, the
  table or a test row, so an outer test label cannot change a choice.
- :func:`select_final` runs the same selector on all clips: the shipped model.

The classifier is the built-in model's: standardised descriptors of the four
stems, one multinomial logistic layer over Russell's quadrants, fitted on every
window with its clip's label; a clip's probabilities are the mean over its windows.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..descriptors import EXTRACTOR_GROUPS, GROUPS, TIMBRE_GROUPS, TONAL_GROUPS, group_sizes
from ..nets import QUADRANTS
from .crossval import grouped_folds

#: Floor of the standard deviation in standardisation (as :class:`~emomucs_core.nets._Standardise`).
STD_FLOOR = 1e-3


# -- data ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DescriptorTable:
    """Per-window descriptors of N clips with their labels.

    x : float32 ``(N, K, F)``; columns per source in ``sources`` order, per group in
        :data:`~emomucs_core.descriptors.GROUPS` order (the order of the bundle's fusion input).
    column_groups : ``(F,)`` group name of every column.
    quadrants : ``(N,)`` Q1..Q4; artists : ``(N,)`` grouping key of the folds.
    """

    x: np.ndarray
    column_groups: np.ndarray
    quadrants: np.ndarray
    artists: np.ndarray
    sources: tuple[str, ...]
    groups: tuple[str, ...]
    ids: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def from_feature_set(cls, data, sources: Sequence[str], frame_rate: float, groups: Sequence[str],
                         n_mels: int) -> DescriptorTable:
        """Descriptors of every window of ``data`` (a :class:`~.data.FeatureSet`) for ``sources`` and ``groups``."""
        groups = tuple(g for g in GROUPS if g in groups)
        sizes = group_sizes(n_mels)
        blocks = [data.descriptors(s, frame_rate, groups, n_mels) for s in sources]
        cols = np.array([g for _ in sources for g in groups for _ in range(sizes[g])])
        return cls(np.concatenate(blocks, axis=-1).astype(np.float32), cols, np.asarray(data.quadrants),
                   np.asarray(data.groups), tuple(sources), groups, tuple(data.ids))

    def save(self, path) -> None:
        """Store the table as ``.npz`` (atomically)."""
        from ..atomic import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, x=self.x, column_groups=self.column_groups, quadrants=self.quadrants, artists=self.artists,
                     sources=np.array(self.sources), groups=np.array(self.groups), ids=np.array(self.ids))

    @classmethod
    def load(cls, path) -> DescriptorTable:
        with np.load(path, allow_pickle=False) as d:
            return cls(d["x"], d["column_groups"], d["quadrants"], d["artists"], tuple(d["sources"].tolist()),
                       tuple(d["groups"].tolist()), tuple(d["ids"].tolist()))

    def columns(self, groups: Sequence[str]) -> np.ndarray:
        """Indices of the columns of ``groups`` (every source), in table order."""
        return np.flatnonzero(np.isin(self.column_groups, list(groups)))

    def part(self, idx: np.ndarray) -> TrainingPart:
        """A :class:`TrainingPart` of the clips ``idx``: copies, no way back to the table."""
        idx = np.asarray(idx, int)
        return TrainingPart(self.x[idx].copy(), self.column_groups.copy(), self.quadrants[idx].copy(),
                            self.artists[idx].copy(), self.groups)


@dataclass(frozen=True)
class TrainingPart:
    """What a :class:`Selector` sees: the training clips' descriptors, labels and artists (copies)."""

    x: np.ndarray
    column_groups: np.ndarray
    quadrants: np.ndarray
    artists: np.ndarray
    groups: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.x)

    def columns(self, groups: Sequence[str]) -> np.ndarray:
        return np.flatnonzero(np.isin(self.column_groups, list(groups)))


# -- classifier and calibration -----------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """One choice the selector can make: descriptor groups and the inverse L2 penalty ``C``."""

    groups: tuple[str, ...]
    C: float

    @property
    def label(self) -> str:
        extra = [g for g in self.groups if g not in TIMBRE_GROUPS]
        base = "timbre" if set(TIMBRE_GROUPS) <= set(self.groups) else "+".join(
            g for g in self.groups if g in TIMBRE_GROUPS)
        return "+".join([b for b in [base] if b] + extra) + f" C={self.C:g}"


@dataclass
class LinearQuadrantModel:
    """Standardise (``mean``, ``std`` per column) then softmax over Q1..Q4 of ``z @ weight.T + bias``.

    weight ``(4, F)``, bias ``(4,)``. Window probabilities are averaged per clip.
    """

    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray
    bias: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, quadrants: np.ndarray, C: float) -> LinearQuadrantModel:
        """Fit on windows ``x`` ``(n, K, F)`` of clips labelled ``quadrants`` ``(n,)``."""
        return cls.fit_path(x, quadrants, (C,))[0]

    @classmethod
    def fit_path(cls, x: np.ndarray, quadrants: np.ndarray, Cs: Sequence[float]) -> list[LinearQuadrantModel]:
        """One model per inverse penalty in ``Cs`` (fitted in ascending order, each warm-started from the last)."""
        from sklearn.linear_model import LogisticRegression

        rows = x.reshape(-1, x.shape[-1]).astype(np.float64)
        labels = np.repeat(np.asarray(quadrants), x.shape[1])
        mean, std = rows.mean(axis=0), np.maximum(rows.std(axis=0), STD_FLOOR)
        z = (rows - mean) / std
        clf = LogisticRegression(max_iter=300, tol=1e-4, warm_start=True)
        fitted = {}
        for C in sorted(Cs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence warnings at the weakest penalty
                clf.set_params(C=C).fit(z, labels)
            if len(clf.classes_) != 4:
                raise ValueError(f"a quadrant model needs clips of all four quadrants, got {list(clf.classes_)}")
            order = [list(clf.classes_).index(q) for q in QUADRANTS]
            fitted[C] = cls(mean, std, clf.coef_[order].copy(), clf.intercept_[order].copy())
        return [fitted[C] for C in Cs]

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Window logits ``(n, K, 4)`` of ``x`` ``(n, K, F)``."""
        return ((x - self.mean) / self.std) @ self.weight.T + self.bias


@dataclass(frozen=True)
class Calibration:
    """``softmax(logits / temperature + bias)`` per window (fitted on out-of-fold logits)."""

    temperature: float = 1.0
    bias: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)

    @classmethod
    def fit(cls, logits: np.ndarray, quadrants: np.ndarray, bias: bool = True) -> Calibration:
        """Minimise the clip log loss of window-averaged calibrated probabilities.

        logits ``(n, K, 4)``; a weak penalty keeps ``log T`` and the biases near 0.
        """
        z = torch.as_tensor(logits, dtype=torch.float64)
        y = torch.as_tensor([QUADRANTS.index(q) for q in quadrants])
        log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(4, dtype=torch.float64, requires_grad=True)
        params = [log_t, b] if bias else [log_t]
        opt = torch.optim.LBFGS(params, max_iter=200, line_search_fn="strong_wolfe")

        def objective():
            opt.zero_grad()
            p = torch.softmax(z / log_t.exp() + b, dim=-1).mean(dim=1)
            loss = -p.clamp_min(1e-12).log()[torch.arange(len(y)), y].mean() + 1e-3 * (log_t.pow(2).sum() + b.pow(2).sum())
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(objective)
        b0 = b.detach() - b.detach().mean()
        return cls(float(log_t.detach().exp()), tuple(float(v) for v in b0))

    def proba(self, logits: np.ndarray) -> np.ndarray:
        """Clip probabilities ``(n, 4)``: mean over windows of the calibrated softmax of ``(n, K, 4)``."""
        z = logits / self.temperature + np.asarray(self.bias)
        z = z - z.max(axis=-1, keepdims=True)
        p = np.exp(z)
        return (p / p.sum(axis=-1, keepdims=True)).mean(axis=1)


def clip_log_loss(p: np.ndarray, quadrants: np.ndarray) -> np.ndarray:
    """Per-clip cross-entropy ``(n,)`` of probabilities ``(n, 4)``."""
    idx = np.array([QUADRANTS.index(q) for q in quadrants])
    return -np.log(np.clip(p[np.arange(len(idx)), idx], 1e-12, None))


# -- the selector -------------------------------------------------------------------------
@dataclass
class Selection:
    """What a :class:`Selector` chose and fitted on one training part.

    candidate : the chosen groups and ``C``; model : fitted on the whole part
    (chosen columns only); calibration : fitted on the inner out-of-fold logits;
    columns : the chosen columns of the table; scores : per candidate label the inner
    ``{"log_loss", "log_loss_se", "accuracy"}`` (uncalibrated, out of fold).
    """

    candidate: Candidate
    columns: np.ndarray
    model: LinearQuadrantModel
    calibration: Calibration
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    def proba(self, x: np.ndarray, calibrated: bool = True) -> np.ndarray:
        """Clip probabilities ``(n, 4)`` of full-table windows ``x`` ``(n, K, F)``."""
        logits = self.model.logits(x[..., self.columns])
        return (self.calibration if calibrated else Calibration()).proba(logits)


@dataclass
class Selector:
    """Chooses among ``candidates`` by grouped inner cross-validation of a training part.

    inner_k : inner folds (artist-grouped, stratified by quadrant); seed : their draw.
    calibrate : fit temperature and class biases on the inner out-of-fold logits of the choice.
    """

    candidates: tuple[Candidate, ...]
    inner_k: int = 5
    seed: int = 0
    calibrate: bool = True

    def select(self, part: TrainingPart) -> Selection:
        """Run the inner protocol on ``part`` and return the refitted choice."""
        if not isinstance(part, TrainingPart):
            raise TypeError("a Selector takes a TrainingPart (DescriptorTable.part of the training clips) only")
        folds = grouped_folds(list(part.artists), list(part.quadrants), self.inner_k, self.seed)
        scores, oof = {}, {}
        by_groups: dict[tuple[str, ...], list[Candidate]] = {}
        for cand in self.candidates:
            by_groups.setdefault(cand.groups, []).append(cand)
        for groups, cands in by_groups.items():
            cols = part.columns(groups)
            logits = np.zeros((len(cands),) + part.x.shape[:2] + (4,))
            for tr, va in folds:
                models = LinearQuadrantModel.fit_path(part.x[tr][..., cols], part.quadrants[tr], [c.C for c in cands])
                for j, model in enumerate(models):
                    logits[j, va] = model.logits(part.x[va][..., cols])
            for cand, lg in zip(cands, logits):
                p = Calibration().proba(lg)
                losses = clip_log_loss(p, part.quadrants)
                fold_losses = [losses[va].mean() for _, va in folds]
                scores[cand.label] = {
                    "log_loss": float(losses.mean()),
                    "log_loss_se": float(np.std(fold_losses) / np.sqrt(len(folds))),
                    "accuracy": float((np.array(QUADRANTS)[p.argmax(1)] == part.quadrants).mean()),
                }
                oof[cand.label] = lg
        chosen = one_standard_error(self.candidates, scores)
        calibration = (Calibration.fit(oof[chosen.label], part.quadrants) if self.calibrate else Calibration())
        cols = part.columns(chosen.groups)
        model = LinearQuadrantModel.fit(part.x[..., cols], part.quadrants, chosen.C)
        return Selection(chosen, cols, model, calibration, scores)


def one_standard_error(candidates: Sequence[Candidate], scores: dict[str, dict[str, float]]) -> Candidate:
    """The simplest candidate within one standard error of the best inner log loss.

    Simplest: fewest descriptor groups, then the strongest penalty (smallest ``C``).
    """
    best = min(candidates, key=lambda c: scores[c.label]["log_loss"])
    limit = scores[best.label]["log_loss"] + scores[best.label]["log_loss_se"]
    near = [c for c in candidates if scores[c.label]["log_loss"] <= limit]
    return min(near, key=lambda c: (len(c.groups), c.C))


def candidates(group_sets: Sequence[Sequence[str]], Cs: Sequence[float]) -> tuple[Candidate, ...]:
    """Every combination of ``group_sets`` and penalties ``Cs``."""
    return tuple(Candidate(tuple(g for g in GROUPS if g in gs), float(C)) for gs, C in itertools.product(group_sets, Cs))


#: Inverse L2 penalties the shipped recipe chooses among.
PENALTIES = (0.001, 0.003, 0.01)


def shipped_candidates(tonal: bool = True) -> tuple[Candidate, ...]:
    """The shipped recipe's choices: the timbre groups, with or without all tonal groups; three penalties."""
    return candidates([TIMBRE_GROUPS] + ([TIMBRE_GROUPS + TONAL_GROUPS] if tonal else []), PENALTIES)


#: Group sets of the recipe with the pretrained extractor (musicnn on every stem), each a nested-CV row.
EXTRACTOR_SETS = {
    "timbre": TIMBRE_GROUPS,
    "timbre + musicnn tags": TIMBRE_GROUPS + ("musicnn_tags",),
    "timbre + musicnn": TIMBRE_GROUPS + ("musicnn",),
    "timbre + musicnn + tags": TIMBRE_GROUPS + EXTRACTOR_GROUPS,
    "musicnn + tags": EXTRACTOR_GROUPS,
}
#: Inverse L2 penalties of the extractor recipe: :data:`PENALTIES` and a stronger one for its wider tables
#: (up to 510 values per stem).
EXTRACTOR_PENALTIES = (0.0003, 0.001, 0.003, 0.01)


def extractor_candidates(sets: Sequence[Sequence[str]] = tuple(EXTRACTOR_SETS.values())) -> tuple[Candidate, ...]:
    """The extractor recipe's choices: every group set of :data:`EXTRACTOR_SETS` with every penalty."""
    return candidates(sets, EXTRACTOR_PENALTIES)


def group_diagnostics() -> tuple[Candidate, ...]:
    """What each tonal group adds, at the middle penalty: timbre alone, with each tonal group, with all."""
    sets = [TIMBRE_GROUPS] + [TIMBRE_GROUPS + (g,) for g in TONAL_GROUPS] + [TIMBRE_GROUPS + TONAL_GROUPS]
    return candidates(sets, PENALTIES[1:2])


# -- the outer loop ------------------------------------------------------------------------
@dataclass
class NestedResult:
    """Outer-fold results: per fold the test indices, the selection and the clip probabilities."""

    folds: list[tuple[np.ndarray, np.ndarray]]
    selections: list[Selection]
    proba: np.ndarray  # (N, 4) calibrated, out of fold
    proba_raw: np.ndarray  # (N, 4) uncalibrated, out of fold


def nested_cv(table: DescriptorTable, selector: Selector, *, k: int = 5, seed: int = 0,
              folds: list[tuple[np.ndarray, np.ndarray]] | None = None, jobs: int = 1, log=None) -> NestedResult:
    """Outer artist-grouped ``k``-fold: the selector sees each training part only; test parts are scored.

    ``jobs``: outer folds selected in parallel processes (each gets its training part only).
    """
    folds = folds if folds is not None else outer_folds(table, k, seed)
    proba, raw = np.full((len(table), 4), np.nan), np.full((len(table), 4), np.nan)
    parts = [table.part(train) for train, _ in folds]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(folds))) as pool:
            chosen = list(pool.map(selector.select, parts))
    else:
        chosen = map(selector.select, parts)
    selections = []
    for i, ((train, test), selection) in enumerate(zip(folds, chosen)):
        proba[test] = selection.proba(table.x[test])
        raw[test] = selection.proba(table.x[test], calibrated=False)
        selections.append(selection)
        if log:
            acc = (np.array(QUADRANTS)[proba[test].argmax(1)] == table.quadrants[test]).mean()
            log(f"outer fold {i + 1}/{len(folds)}: chose {selection.candidate.label}, "
                f"T={selection.calibration.temperature:.2f}, accuracy {acc:.3f}")
    return NestedResult(folds, selections, proba, raw)


def outer_folds(table: DescriptorTable, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The outer artist-grouped, quadrant-stratified folds (as :func:`~.crossval.outer_folds`)."""
    return grouped_folds(list(table.artists), list(table.quadrants), k, seed)


def select_final(table: DescriptorTable, selector: Selector) -> Selection:
    """The selector on every clip: the model to ship."""
    return selector.select(table.part(np.arange(len(table))))
