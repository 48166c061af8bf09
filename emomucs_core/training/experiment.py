"""Entry points for the CLI: a full cross-validated experiment, and the final model.

:func:`run_experiment` cross-validates several model specs (and optionally the
handcrafted baseline) on the same outer folds and writes ``report.md``, PNG figures
and ``results.json`` into ``out_dir``; a rerun resumes finished folds.
:func:`train_final` trains one spec on all clips (early-stopping on a grouped
validation split) and returns a :class:`~emomucs_core.checkpoint.Bundle`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..atomic import atomic_write_text
from ..checkpoint import Bundle
from ..constants import WINDOW_SECONDS
from ..features import MelParams
from ..loudness import TARGET_LUFS
from .baseline import baseline_cv
from .crossval import (
    CVResult, _safe, _write_json, cross_validate, inner_splits, outer_folds, parse_spec, subsample_training,
)
from .data import FeatureSet
from .report import plot_ablation, plot_va_plane, subset_table, table1, table2
from .inference import HISTORY_METRICS, evaluate_model
from .loop import Log
from .options import TrainOptions
from .trainer import train_model

logger = logging.getLogger(__name__)


def run_experiment(
    data: FeatureSet,
    specs: Sequence[str],
    out_dir: str | Path,
    *,
    k: int = 5,
    inner_k: int = 5,
    inner_folds: int = 1,
    grid: list[dict] | None = None,
    head: str = "regression",
    options: TrainOptions | None = None,
    baseline_features: np.ndarray | None = None,
    train_fraction: float = 1.0,
    ablation_metric: str = "quadrant_acc",
    title: str = "EmoMucs cross-validation",
    log: Log | None = None,
) -> dict[str, Any]:
    """Cross-validate ``specs`` (e.g. ``["c2d-m", "c2d-late-freeze"]``) and write the report.

    options : training options (default :class:`TrainOptions`); their ``seed`` also draws the folds.
    baseline_features : optional ``(N, F)`` handcrafted features for the logistic baseline.
    train_fraction : train on this fraction of each training part's artists
        (:func:`subsample_training`; test parts unchanged), for learning curves.
    Returns ``{"results": {name: CVResult|BaselineResult}, "report": Path, "json": Path, "figures": [Path]}``.
    """
    log = log or logger.info
    opts = options or TrainOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folds = outer_folds(data, k, opts.seed)
    if train_fraction < 1:
        folds = subsample_training(folds, data.groups, train_fraction, opts.seed)
    results: dict[str, Any] = {}
    start = time.perf_counter()
    if baseline_features is not None:
        results["handcrafted-logreg"] = baseline_cv(
            baseline_features, data.targets, data.groups, data.quadrants, folds=folds, name="handcrafted-logreg")
    for spec in specs:
        log(f"== {spec}")
        results[spec] = cross_validate(
            data, parse_spec(spec, head), out, k=k, inner_k=inner_k, inner_folds=inner_folds, grid=grid,
            options=opts, folds=folds, log=log)
    settings = {"k": k, "inner_k": inner_k, "inner_folds": inner_folds, "grid": grid, "epochs": opts.epochs,
                "lr": opts.lr, "batch_size": opts.batch_size, "seed": opts.seed, "head": head,
                "train_fraction": train_fraction, "options": opts.signature(), "clips": len(data),
                "windows": data.n_windows, "frames": data.frames, "seconds": time.perf_counter() - start}
    paths = write_report(results, data, out, settings, ablation_metric, title)
    return {"results": results, **paths}


def write_report(
    results: dict[str, Any], data: FeatureSet, out_dir: str | Path, settings: dict | None = None,
    ablation_metric: str = "quadrant_acc", title: str = "EmoMucs cross-validation",
) -> dict[str, Any]:
    """Write ``report.md``, ``results.json`` and, per fused model, ``<name>-va.png`` and ``<name>-ablation.png``."""
    out = Path(out_dir)
    rows = [r.to_json() for r in results.values()]
    figures: list[Path] = []
    lines = [f"# {title}", ""]
    if settings:
        lines += [f"{len(data)} clips, {settings.get('k')}-fold grouped cross-validation (outer), "
                  f"{settings.get('inner_folds')} of {settings.get('inner_k')} inner splits; "
                  f"{settings.get('epochs')} epochs, lr {settings.get('lr')}, batch {settings.get('batch_size')}, "
                  f"seed {settings.get('seed')}, default head {settings.get('head')} (a spec's suffix overrides it). "
                  "Mean ± std over outer folds.", ""]
    lines += ["## Table 1: models", "", table1(rows), ""]
    if any(len(r["config"].get("sources", [])) > 1 for r in rows):
        lines += ["## Table 2: fusion x training mode", "", table2(rows), ""]
    for name, res in results.items():
        if not isinstance(res, CVResult) or res.values is None:
            continue
        stem = _safe(name)
        va = plot_va_plane(res.preds, res.dominant(), out / f"{stem}-va.png", f"{name}: dominant source",
                           targets=data.targets)
        subsets = res.subset_metrics(data)
        ab = plot_ablation(subsets, out / f"{stem}-ablation.png", ablation_metric, f"{name}: source subsets")
        figures += [va, ab]
        counts = {s: res.dominant().count(s) for s in res.sources}
        absent = "their training mean (linear head)" if res.cfg.fusion_hidden == 0 else "a silent stem"
        lines += [f"## {name}", "", f"![valence/arousal plane]({va.name})", "",
                  "Dominant source (clips): " + ", ".join(f"{s} {c}" for s, c in counts.items()), "",
                  f"![source-subset ablation]({ab.name})", "",
                  "Source-subset ablation (pooled out-of-fold predictions of the fused model; absent "
                  f"sources replaced by {absent}):", "", subset_table(subsets), ""]
    report = out / "report.md"
    atomic_write_text(report, "\n".join(lines))
    json_path = out / "results.json"
    _write_json(json_path, {"settings": settings or {}, "ids": data.ids, "models": rows})
    return {"report": report, "json": json_path, "figures": figures}


def train_final(
    data: FeatureSet,
    spec: str,
    *,
    head: str = "regression",
    options: TrainOptions | None = None,
    val_k: int = 5,
    separator: dict | None = None,
    name: str = "emomucs",
    data_info: dict | None = None,
    metrics: dict | None = None,
    mel: MelParams | None = None,
    window_seconds: float = WINDOW_SECONDS,
    log: Log | None = None,
) -> Bundle:
    """Train ``spec`` on all clips, early-stopping on one grouped split of ``1/val_k`` of them.

    ``options``: training options (default :class:`TrainOptions`); their ``seed`` also draws the split.

    The bundle's ``metrics`` hold the given (cross-validated) metrics plus ``final_val``:
    the metrics on that validation split (for a linear head, those of the chosen fit
    before it was refitted on all clips). Returns an unsaved :class:`Bundle`.
    """
    opts = options or TrainOptions()
    model_spec = parse_spec(spec, head)
    tr, va = inner_splits(data, np.arange(len(data)), val_k, 1, opts.seed)[0]
    model, history = train_model(model_spec.cfg, data, tr, va, mode=model_spec.mode, options=opts, log=log)
    refit = [h for h in history if h["stage"] == "head-refit"]
    if refit:  # the refitted head has seen the validation clips: keep the held-out figures
        chosen = next(h for h in history if h["stage"] == "head" and h["l2"] == refit[-1]["l2"])
        val = {"loss": chosen["val_loss"], **{k: chosen[k] for k in HISTORY_METRICS}}
    else:
        val = evaluate_model(model, data, va)
    info = {"clips": len(data), "train_clips": len(tr), "val_clips": len(va), "windows": data.n_windows,
            "spec": spec, "mode": model_spec.mode, "epochs": opts.epochs, "lr": opts.lr, "batch_size": opts.batch_size,
            "seed": opts.seed, "epochs_run": len(history), **(data_info or {})}
    if refit:
        info["refit_clips"] = len(tr) + len(va)
    all_metrics = {**(metrics or {}), "final_val": val}
    return Bundle(model=model, mel=mel or data.mel or MelParams(), window_seconds=window_seconds, separator=separator,
                  loudness_lufs=TARGET_LUFS, data=info, metrics=json.loads(json.dumps(all_metrics, default=float)),
                  name=name)
