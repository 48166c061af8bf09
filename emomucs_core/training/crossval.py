"""Nested k-fold cross-validation, grouped by artist and stratified by quadrant.

Outer folds measure; inner splits of each outer training part early-stop (split 0)
and, with a grid of settings, select them (mean validation loss over ``inner_folds``
splits). Each finished outer fold is written atomically to ``out_dir/<model>/foldN.json``
so that a rerun skips it. For fused models the result also holds out-of-fold subset
values (the fused model with only some sources present; the others are absent as in
:meth:`~emomucs_core.nets.EmoMucs.absent_embeddings`) and Shapley contributions per source.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..atomic import atomic_write_text
from ..attribution import dominant_source, shapley
from ..features import MelParams
from ..heads import head_of
from ..nets import EmoMucs, NetConfig, count_parameters
from ..pipeline import InferenceStep
from .data import FeatureSet
from .inference import embed_windows, evaluate_model, predict_proba
from .loop import Log
from .metrics import evaluate, quadrants_of, summarise
from .options import TrainOptions, settings_key
from .spec import ModelSpec, parse_spec
from .trainer import train_model

logger = logging.getLogger(__name__)


# -- folds ------------------------------------------------------------------------
def outer_folds(data: FeatureSet, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, test) index pairs; no group in both; stratified by quadrant."""
    return grouped_folds(data.groups, _strata(data), k, seed)


def subsample_training(
    folds: list[tuple[np.ndarray, np.ndarray]], groups: Sequence[str], fraction: float, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` with each training part cut to ``fraction`` of its groups (artists), for learning curves.

    Whole groups are kept, drawn at random per fold with ``seed``; a smaller
    fraction keeps a subset of the groups a larger one keeps. Test parts are unchanged.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    groups = np.asarray(groups)
    out = []
    for i, (train, test) in enumerate(folds):
        names = np.random.default_rng([seed, i]).permutation(np.unique(groups[train]))
        kept = names[: max(1, round(fraction * len(names)))]
        out.append((train[np.isin(groups[train], kept)], test))
    return out


def inner_splits(
    data: FeatureSet, idx: np.ndarray, k: int = 5, n: int = 1, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``n`` of ``k`` grouped (train, val) splits of the clips ``idx``."""
    return grouped_folds(data.groups, _strata(data), k, seed + 1, idx)[:n]


def grouped_folds(
    groups: list[str], labels: list[str], k: int = 5, seed: int = 0, idx: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped, label-stratified k-fold of the items ``idx`` (default all): ``[(train, test)]``.

    Uses ``StratifiedGroupKFold`` (shuffled with ``seed``); falls back to ``GroupKFold``.
    ``k`` is lowered to the number of groups when there are fewer.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    idx = np.arange(len(groups)) if idx is None else np.asarray(idx)
    g = np.asarray(groups)[idx]
    k = min(k, len(set(g)))
    if k < 2:
        raise ValueError(f"{len(set(g))} group(s): grouped k-fold needs at least 2")
    y = np.asarray(labels)[idx]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" warnings
        try:
            splits = list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(idx, y, g))
        except ValueError:
            splits = list(GroupKFold(n_splits=k).split(idx, y, g))
    return [(idx[a], idx[b]) for a, b in splits]


def _strata(data: FeatureSet) -> list[str]:
    return list(data.quadrants) if data.has_quadrants else quadrants_of(data.targets)


# -- results --------------------------------------------------------------------
@dataclass
class CVResult:
    """Cross-validation of one model spec.

    folds : per outer fold ``{"fold", "metrics", "params", "test_idx", "seconds", ...}``.
    summary : ``{metric: {"mean", "std"}}`` over folds.
    preds : out-of-fold unit predictions ``(N, 2)`` (NaN for clips never tested).
    masks : bool ``(2**n, n)`` source subsets; values : ``(2**n, N, 2)`` out-of-fold
    unit predictions of each subset (fused models; else None).
    contributions : ``(N, n, 2)`` Shapley values per source (fused models; else None).
    trained, resumed : outer folds trained in this run / loaded from ``out_dir``.
    """

    name: str
    cfg: NetConfig
    mode: str
    n_params: int
    folds: list[dict] = field(default_factory=list)
    summary: dict[str, dict[str, float]] = field(default_factory=dict)
    preds: np.ndarray | None = None
    masks: np.ndarray | None = None
    values: np.ndarray | None = None
    contributions: np.ndarray | None = None
    trained: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)

    @property
    def sources(self) -> tuple[str, ...]:
        return self.cfg.sources

    def dominant(self) -> list[str | None]:
        """Best (largest |contribution|) source per clip; None when untested or not fused."""
        if self.contributions is None:
            return [None] * (0 if self.preds is None else len(self.preds))
        names = dominant_source(torch.from_numpy(np.nan_to_num(self.contributions)), self.sources)
        tested = ~np.isnan(self.contributions).any(axis=(1, 2))
        return [n if t else None for n, t in zip(names, tested)]

    def subset_metrics(self, data: FeatureSet) -> list[tuple[tuple[str, ...], dict[str, float]]]:
        """Metrics of every non-empty source subset on the tested clips (paper Fig. 4)."""
        if self.values is None:
            return []
        tested = ~np.isnan(self.preds).any(axis=1)
        out = []
        for mask, vals in zip(self.masks, self.values):
            if mask.any():
                names = tuple(s for s, m in zip(self.sources, mask) if m)
                quads = [q for q, t in zip(data.quadrants, tested) if t]
                out.append((names, evaluate(data.targets[tested], vals[tested], quads)))
        return out

    def to_json(self) -> dict[str, Any]:
        def arr(a):
            return None if a is None else np.where(np.isnan(a), None, np.round(a, 6)).tolist()

        return {
            "name": self.name, "config": self.cfg.to_dict(), "mode": self.mode, "n_params": self.n_params,
            "summary": self.summary,
            "folds": [{k: v for k, v in f.items() if k not in ("preds", "values", "contributions")} for f in self.folds],
            "preds": arr(self.preds), "dominant": self.dominant(),
            "masks": None if self.masks is None else self.masks.tolist(),
            "values": arr(self.values), "contributions": arr(self.contributions),
        }


# -- cross-validation ------------------------------------------------------------
def cross_validate(
    data: FeatureSet,
    spec: str | ModelSpec,
    out_dir: str | Path | None = None,
    *,
    k: int = 5,
    inner_k: int = 5,
    inner_folds: int = 1,
    grid: list[dict] | None = None,
    options: TrainOptions | None = None,
    head: str = "regression",
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None,
    log: Log | None = None,
) -> CVResult:
    """Nested cross-validation of one model spec (see module docstring).

    options : training options; their ``seed`` also draws the folds.
    grid : settings to select among, each a dict of :class:`TrainOptions` fields
        overriding ``options``; ``None`` = just ``options``.
    folds : outer (train, test) pairs (default :func:`outer_folds` ``(data, k, options.seed)``).
    """
    spec = spec if isinstance(spec, ModelSpec) else parse_spec(spec, head)
    log = log or logger.info
    opts = options or TrainOptions()
    grid = [dict(g) for g in (grid or [{}])]
    folds = folds if folds is not None else outer_folds(data, k, opts.seed)
    if out_dir is not None and opts.pretrain_dir is None:
        opts = replace(opts, pretrain_dir=str(Path(out_dir) / "pretrained"))
    if out_dir is not None and opts.checkpoint_dir is None:
        opts = replace(opts, checkpoint_dir=str(Path(out_dir) / "checkpoints"))
    n = len(spec.cfg.sources)
    result = CVResult(spec.name, spec.cfg, spec.mode, count_parameters(EmoMucs(spec.cfg)))
    result.preds = np.full((len(data), 2), np.nan)
    fused = n > 1
    if fused:
        result.values = np.full((2**n, len(data), 2), np.nan)
        result.contributions = np.full((len(data), n, 2), np.nan)
    for i, (train_idx, test_idx) in enumerate(folds):
        key = _fold_key(spec, data, train_idx, test_idx, grid=grid, inner_k=inner_k, inner_folds=inner_folds,
                        options=opts)
        path = Path(out_dir) / _safe(spec.name) / f"fold{i}.json" if out_dir is not None else None
        fold = _load_fold(path, key)
        if fold is not None:
            result.resumed.append(i)
            log(f"{spec.name} fold {i + 1}/{len(folds)}: done before, skipped")
        else:
            fold = _run_fold(spec, data, i, train_idx, test_idx, grid=grid, inner_k=inner_k, inner_folds=inner_folds,
                             options=opts, log=log)
            fold["key"] = key
            if path is not None:
                _write_json(path, fold)
            result.trained.append(i)
        test = np.asarray(fold["test_idx"])
        result.preds[test] = np.asarray(fold["preds"])
        if fused:
            result.masks = np.asarray(fold["masks"], bool)
            result.values[:, test] = np.asarray(fold["values"])
            result.contributions[test] = np.asarray(fold["contributions"])
        result.folds.append(fold)
        m = fold["metrics"]
        log(f"{spec.name} fold {i + 1}/{len(folds)}: quadrant_acc={m['quadrant_acc']:.3f} "
            f"valence_r2={m['valence_r2']:.3f} arousal_r2={m['arousal_r2']:.3f}")
    result.summary = summarise(f["metrics"] for f in result.folds)
    return result


def _run_fold(spec: ModelSpec, data: FeatureSet, i: int, train_idx: np.ndarray, test_idx: np.ndarray, *,
              grid: list[dict], inner_k: int, inner_folds: int, options: TrainOptions, log: Log) -> dict:
    """Outer fold ``i``: choose among ``grid`` on inner splits, train on the first one, score the test clips."""
    start = time.perf_counter()
    splits = inner_splits(data, train_idx, inner_k, max(1, inner_folds), options.seed + i)
    chosen, scores = grid[0], []
    if len(grid) > 1:
        for g in grid:
            losses = []
            for tr, va in splits:
                model, _ = train_model(spec.cfg, data, tr, va, mode=spec.mode, options=replace(options, **g), log=log)
                losses.append(evaluate_model(model, data, va, batch=options.eval_batch)["loss"])
            scores.append(float(np.mean(losses)))
            log(f"{spec.name} fold {i + 1}: setting {g} inner val loss {scores[-1]:.4f}")
        chosen = grid[int(np.argmin(scores))]
    tr, va = splits[0]
    model, history = train_model(spec.cfg, data, tr, va, mode=spec.mode, options=replace(options, **chosen), log=log)
    out: dict[str, Any] = {"fold": i, "params": chosen, "grid_scores": scores, "n_train": len(tr), "n_val": len(va),
                           "test_idx": np.asarray(test_idx).tolist(), "history": history}
    emb = embed_windows(model, data, test_idx, options.eval_batch)  # once, for predictions and subsets
    p = predict_proba(model, data, test_idx, emb=emb)
    out["preds"] = head_of(spec.cfg.head).to_unit(p).tolist()
    out["pred_quadrants"] = head_of(spec.cfg.head).quadrants(p)
    out["metrics"] = evaluate_model(model, data, test_idx, p=p)
    if model.fused:
        masks, values = _subset_values(model, emb, data)
        out.update(masks=masks.tolist(), values=values.tolist(),
                   contributions=shapley(torch.from_numpy(masks), torch.from_numpy(values)).numpy().tolist())
    out["seconds"] = time.perf_counter() - start
    return out


def _subset_values(model: EmoMucs, emb: dict[str, torch.Tensor], data: FeatureSet) -> tuple[np.ndarray, np.ndarray]:
    """Subset masks ``(2**n, n)`` and unit values ``(2**n, n_clips, 2)`` averaged over windows.

    ``emb``: :func:`embed_windows` features ``{source: (n_clips, K, d)}`` of clips of ``data``;
    absent sources as at prediction time (:class:`~emomucs_core.pipeline.InferenceStep`,
    silence at the level of the features' parameters).
    """
    n_clips, k = next(iter(emb.values())).shape[:2]
    step = InferenceStep(model, mel=data.mel or MelParams(), frames=data.frames)
    masks, values = step.subset_values({s: e.flatten(0, 1) for s, e in emb.items()})
    return masks.numpy(), values.view(len(masks), n_clips, k, 2).mean(dim=2).numpy()


# -- resumable fold files ----------------------------------------------------------
def _fold_key(spec: ModelSpec, data: FeatureSet, train_idx: np.ndarray, test_idx: np.ndarray, *, grid: list[dict],
              inner_k: int, inner_folds: int, options: TrainOptions) -> str:
    """Hash of everything an outer fold's result depends on: 16 hex digits."""
    base = {"epochs": options.epochs, "lr": options.lr, "batch_size": options.batch_size}
    h = hashlib.sha1()
    h.update(json.dumps([spec.name, settings_key(spec.cfg, options), spec.mode, base, grid, inner_k, inner_folds,
                         options.seed, len(data), data.n_windows, data.frames], sort_keys=True,
                        default=str).encode())
    h.update(np.asarray(train_idx, np.int64).tobytes() + b"|" + np.asarray(test_idx, np.int64).tobytes())
    h.update(np.ascontiguousarray(data.targets).tobytes())
    return h.hexdigest()[:16]


def _load_fold(path: Path | None, key: str) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        fold = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return fold if fold.get("key") == key else None


def _write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (:func:`~emomucs_core.atomic.atomic_write_text`)."""
    atomic_write_text(path, json.dumps(obj, default=_jsonable))


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
