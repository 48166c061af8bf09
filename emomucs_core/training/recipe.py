"""The built-in model's recipe on a quadrant dataset (4Q): nested evaluation and the shipped bundle.

    python -m emomucs_core.training.recipe evaluate --data DIR --cache DIR --out docs/results-4q-900
    python -m emomucs_core.training.recipe train --data DIR --cache DIR --metrics .../results.json --out BUNDLE

``evaluate`` runs :func:`~.selection.nested_cv` for the shipped recipe (descriptor
groups, penalty and calibration chosen inside each training part), for the same
recipe restricted to the timbre groups, and scores the handcrafted baseline
(librosa statistics of the mix, logistic regression, ``C`` = 0.01, no choices) on
the same outer folds; it writes ``report.md`` and ``results.json``. ``train`` runs
the same selector on every clip and saves the bundle.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text
from ..constants import WINDOW_SECONDS
from ..descriptors import EXTRACTOR_GROUPS
from ..quadrants import QUADRANTS
from .metrics import brier_score, confusion_matrix, evaluate, reliability_table, summarise
from .selection import (EXTRACTOR_SETS, Candidate, DescriptorTable, NestedResult, Selection, Selector,
                        extractor_candidates, group_diagnostics, nested_cv, outer_folds, select_final,
                        shipped_candidates)
from .spec import STEMS

log = logging.getLogger("emomucs.recipe")
#: The handcrafted baseline's fixed penalty (DESIGN.md: 0.648 on 4q-dev).
BASELINE_C = 0.01


def quadrant_metrics(p: np.ndarray, quadrants: np.ndarray) -> dict[str, float]:
    """:func:`~.metrics.evaluate` of quadrant probabilities ``(n, 4)`` plus per-quadrant recall and Brier score."""
    unit = np.stack([p[:, 0] + p[:, 3], p[:, 0] + p[:, 1]], axis=1)
    targets = np.stack([np.isin(quadrants, ("Q1", "Q4")), np.isin(quadrants, ("Q1", "Q2"))], axis=1).astype(float)
    pred = np.array(QUADRANTS)[p.argmax(axis=1)]
    out = evaluate(targets, unit, list(quadrants), list(pred))
    for q in QUADRANTS:
        out[f"{q}_recall"] = float((pred[quadrants == q] == q).mean())
    out["brier"] = brier_score(p, quadrants)
    return out


def per_fold(p: np.ndarray, quadrants: np.ndarray, folds) -> list[dict[str, float]]:
    return [quadrant_metrics(p[test], quadrants[test]) for _, test in folds]


def baseline_proba(features: np.ndarray, quadrants: np.ndarray, folds) -> np.ndarray:
    """Out-of-fold quadrant probabilities ``(N, 4)`` of the handcrafted baseline (fixed ``C``)."""
    from .baseline import make_classifier

    p = np.full((len(features), 4), np.nan)
    x = np.nan_to_num(np.asarray(features, float))
    for train, test in folds:
        clf = make_classifier(BASELINE_C).fit(x[train], quadrants[train])
        p[np.ix_(test, [QUADRANTS.index(c) for c in clf.classes_])] = clf.predict_proba(x[test])
    return p


def inner_group_table(result: NestedResult) -> dict[str, dict[str, float]]:
    """Mean over outer folds of every candidate's inner scores (the selector's own evidence)."""
    labels = result.selections[0].scores.keys()
    return {lab: {k: float(np.mean([s.scores[lab][k] for s in result.selections])) for k in ("log_loss", "accuracy")}
            for lab in labels}


def recipes(tonal: bool, extractors: bool = False) -> dict[str, tuple[Candidate, ...]]:
    """The recipes :func:`evaluate_recipe` compares.

    Without extractors: the shipped one and, with chroma, its timbre-only restriction. With them: the
    extractor recipe (group set and penalty chosen in the inner folds) and one row per group set of
    :data:`~.selection.EXTRACTOR_SETS` (penalty chosen in the inner folds).
    """
    if extractors:
        return {"shipped": extractor_candidates(),
                **{name: extractor_candidates([groups]) for name, groups in EXTRACTOR_SETS.items()}}
    return {"shipped": shipped_candidates(tonal), **({"timbre only": shipped_candidates(False)} if tonal else {})}


def shipped_selector(tonal: bool, extractors: bool, inner_k: int, seed: int) -> Selector:
    """The selector ``train`` runs on every clip: the first recipe of :func:`recipes`."""
    return Selector(recipes(tonal, extractors)["shipped"], inner_k=inner_k, seed=seed)


def evaluate_recipe(table: DescriptorTable, hand: np.ndarray | None, recipes: dict[str, tuple[Candidate, ...]], *,
                    k: int = 5, inner_k: int = 5, seed: int = 0, jobs: int = 1) -> dict[str, Any]:
    """Nested CV of every recipe and the handcrafted baseline ``hand`` ``(N, F)`` on the same outer folds.

    Returns everything the report needs (plain JSON-able values).
    """
    folds = outer_folds(table, k, seed)
    q = table.quadrants
    runs: dict[str, NestedResult] = {}
    out: dict[str, Any] = {"clips": len(table), "k": k, "inner_k": inner_k, "seed": seed, "models": {}}
    for name, cands in recipes.items():
        start = time.perf_counter()
        log.info("== %s: %d candidates", name, len(cands))
        runs[name] = nested_cv(table, Selector(cands, inner_k=inner_k, seed=seed), folds=folds, jobs=jobs,
                               log=log.info)
        res = runs[name]
        out["models"][name] = {
            "per_fold": per_fold(res.proba, q, folds),
            "per_fold_uncalibrated": per_fold(res.proba_raw, q, folds),
            "chosen": [s.candidate.label for s in res.selections],
            "calibration": [{"temperature": s.calibration.temperature, "bias": s.calibration.bias}
                            for s in res.selections],
            "inner": inner_group_table(res),
            "seconds": time.perf_counter() - start,
            "proba": np.round(res.proba, 5).tolist(),
        }
    if hand is not None:
        p = baseline_proba(hand, q, folds)
        out["models"]["handcrafted baseline"] = {"per_fold": per_fold(p, q, folds), "proba": np.round(p, 5).tolist()}
    for row in out["models"].values():
        row["summary"] = summarise(row["per_fold"])
        p = np.asarray(row["proba"])
        row["confusion"] = confusion_matrix(q, np.array(QUADRANTS)[p.argmax(1)]).tolist()
        row["reliability"] = reliability_table(p, q)
    if "handcrafted baseline" in out["models"]:
        base = out["models"]["handcrafted baseline"]["per_fold"]
        for row in out["models"].values():
            row["folds_beating_baseline"] = int(sum(a["quadrant_acc"] > b["quadrant_acc"]
                                                    for a, b in zip(row["per_fold"], base)))
    return out


def write_report(result: dict[str, Any], out_dir: Path, title: str) -> Path:
    """``report.md`` and ``results.json`` in ``out_dir`` (each written atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = ("quadrant_acc", "valence_bacc", "arousal_bacc", "Q3_recall", "brier")
    lines = [f"# {title}", "",
             f"{result['clips']} clips, artist-grouped {result['k']}-fold outer cross-validation (seed "
             f"{result['seed']}); every choice is made inside the training part of each outer fold "
             "(`emomucs_core/training/selection.py`). Mean ± std over the outer folds.", "",
             "| model | " + " | ".join(keys) + " | folds beating the baseline |", "|---" * (len(keys) + 2) + "|"]
    for name, row in result["models"].items():
        cells = [f"{row['summary'][k]['mean']:.3f} ± {row['summary'][k]['std']:.3f}" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row.get('folds_beating_baseline', '')} |")
    lines += ["", "## Per fold (quadrant accuracy)", "", "| model | " + " | ".join(
        f"fold {i + 1}" for i in range(result["k"])) + " |", "|---" * (result["k"] + 1) + "|"]
    for name, row in result["models"].items():
        lines.append(f"| {name} | " + " | ".join(f"{f['quadrant_acc']:.3f}" for f in row["per_fold"]) + " |")
    for name, row in result["models"].items():
        lines += ["", f"## {name}", "", "Confusion matrix (rows: truth Q1..Q4, columns: predicted Q1..Q4):", ""]
        lines += ["| | " + " | ".join(QUADRANTS) + " |", "|---" * 5 + "|"]
        lines += [f"| {q} | " + " | ".join(str(v) for v in r) + " |" for q, r in zip(QUADRANTS, row["confusion"])]
        lines += ["", "Reliability of the top quadrant probability (pooled out-of-fold):", "",
                  "| confidence bin | clips | mean confidence | accuracy |", "|---|---|---|---|"]
        lines += [f"| {b['low']:.1f}-{b['high']:.1f} | {b['count']} | {b['confidence']:.3f} | {b['accuracy']:.3f} |"
                  for b in row["reliability"]["bins"] if b["count"]]
        lines += ["", f"Expected calibration error {row['reliability']['ece']:.3f}."]
        if "chosen" in row:
            raw = summarise(row["per_fold_uncalibrated"])
            lines += ["", "Chosen per outer fold: " + "; ".join(
                f"{c} (T={cal['temperature']:.2f})" for c, cal in zip(row["chosen"], row["calibration"])) + ".",
                      "", f"Without calibration: Brier {raw['brier']['mean']:.3f} ± {raw['brier']['std']:.3f}, "
                          f"accuracy {raw['quadrant_acc']['mean']:.3f} ± {raw['quadrant_acc']['std']:.3f}.",
                      "", "Inner evidence (mean over the outer folds of each candidate's inner out-of-fold "
                          "log loss and accuracy, uncalibrated):", "",
                      "| candidate | inner log loss | inner accuracy |", "|---|---|---|"]
            lines += [f"| {lab} | {v['log_loss']:.4f} | {v['accuracy']:.3f} |" for lab, v in row["inner"].items()]
            lines += ["", f"Time: {row['seconds'] / 60:.1f} min."]
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(lines) + "\n")
    slim = {**result, "models": {n: {k: v for k, v in r.items() if k != "proba"} for n, r in result["models"].items()}}
    atomic_write_text(out_dir / "results.json", json.dumps(slim, indent=1))
    return report


# -- the bundle ---------------------------------------------------------------------------
def bundle_from_selection(selection: Selection, *, n_mels: int, n_chroma: int, frame_rate: float, mel,
                          separator: dict | None, name: str, data_info: dict, metrics: dict):
    """A :class:`~emomucs_core.checkpoint.Bundle` whose network computes exactly ``selection``'s probabilities."""
    import torch

    from ..checkpoint import Bundle
    from ..loudness import TARGET_LUFS
    from ..nets import EmoMucs, NetConfig

    cfg = NetConfig(arch="desc", sources=STEMS, fusion="early", head="quadrant", n_mels=n_mels, n_chroma=n_chroma,
                    fusion_hidden=0, descriptors=True, descriptor_groups=selection.candidate.groups,
                    frame_rate=frame_rate, samplerate=mel.samplerate)
    model = EmoMucs(cfg)
    norm, linear = model.fusion_head
    norm.set(selection.model.mean, selection.model.std)
    cal = selection.calibration
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(selection.model.weight / cal.temperature, dtype=torch.float32))
        linear.bias.copy_(torch.as_tensor(selection.model.bias / cal.temperature + np.asarray(cal.bias),
                                          dtype=torch.float32))
    extractors = []
    if any(g in EXTRACTOR_GROUPS for g in selection.candidate.groups):
        from ..extractors.musicnn import extractor_record

        extractors = [extractor_record()]
    return Bundle(model=model.eval(), mel=mel, separator=separator, loudness_lufs=TARGET_LUFS,
                  extractors=extractors, data=data_info,
                  metrics=metrics, name=name)


# -- command line ---------------------------------------------------------------------------
def table_path(cache, clips, separator_id: str, mel, windows: int, groups) -> Path:
    """Where the descriptor table of ``clips`` is stored: ``<cache>/tables/<key>.npz``.

    The key hashes every clip's feature-cache key, the sources, the groups and the
    descriptor version, so a change to any of them gives a new table.
    """
    import hashlib

    from ..datasets.cache import _mel_params
    from ..descriptors import VERSION

    params = _mel_params(mel, windows, WINDOW_SECONDS)
    keys = [cache.key(c.path, separator_id, params) for c in clips]
    blob = json.dumps([keys, list(STEMS), list(groups), VERSION]).encode()
    return cache.folder / "tables" / f"{hashlib.sha256(blob).hexdigest()[:16]}.npz"


def load_table(args) -> tuple[DescriptorTable, list, Any, Any, Any]:
    """The descriptor table of a 4Q folder: ``(table, clips, feature params, cache, separator)``.

    Features come from the cache (built when missing); the table itself is stored in
    ``<cache>/tables/`` under a key of every clip's feature key, the groups and the
    descriptor version, so ``evaluate`` and ``train`` compute descriptors once.
    """
    from ..datasets import load_dataset
    from ..datasets.cache import FeatureCache, build_cache
    from ..descriptors import TIMBRE_GROUPS, TONAL_GROUPS
    from ..separators import feature_params, make_separator
    from .data import load_feature_set

    clips = load_dataset("4q", args.data)
    cache = FeatureCache(args.cache)
    sep = make_separator(args.separator, device="cpu")
    mel = feature_params(sep.id)
    groups = TIMBRE_GROUPS + TONAL_GROUPS if mel.n_chroma else TIMBRE_GROUPS
    stored = table_path(cache, clips, sep.id, mel, args.windows, groups)
    if stored.is_file():
        table = DescriptorTable.load(stored)
        log.info("descriptor table read from %s", stored)
        return _with_extractors(table, args, clips, cache, sep, mel) + (mel, cache, sep)
    features, missing = load_feature_set(clips, cache, sep.id, STEMS, args.windows, mel=mel)
    if missing:
        build_cache(missing, cache, sep, STEMS, args.windows, mel=mel, progress=log.info)
        features, missing = load_feature_set(clips, cache, sep.id, STEMS, args.windows, mel=mel, log=log.info)
    kept = [c for c in clips if c not in missing]
    log.info("%d clips; descriptors of %s", len(kept), ", ".join(groups))
    table = DescriptorTable.from_feature_set(features, STEMS, mel.frame_rate, groups, mel.n_mels)
    table.save(stored)
    return _with_extractors(table, args, kept, cache, sep, mel) + (mel, cache, sep)


def _with_extractors(table: DescriptorTable, args, clips, cache, sep, mel) -> tuple[DescriptorTable, list]:
    """``(table, clips)``, with ``--extractors musicnn`` the musicnn columns added (embeddings built when missing)."""
    if args.extractors == "musicnn":
        from . import extractor_table

        path = extractor_table.build(clips, cache, sep.id, mel, args.windows)
        table = extractor_table.with_extractor_columns(table, path)
    kept = set(table.ids)
    return table, [c for c in clips if c.id in kept]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emomucs_core.training.recipe", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("evaluate", "train", "groups"),
                        help="evaluate: nested CV report; train: the bundle; groups: what each descriptor group adds")
    parser.add_argument("--data", required=True, type=Path, help="4Q dataset folder (Q1..Q4, annotation CSVs)")
    parser.add_argument("--cache", required=True, type=Path, help="feature cache folder")
    parser.add_argument("--separator", default="offline:v7")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--extractors", choices=("none", "musicnn"), default="none",
                        help="pretrained extractors run on every stem beside the descriptors")
    parser.add_argument("--folds", type=int, default=5, help="outer folds")
    parser.add_argument("--inner-folds", type=int, default=5, help="inner folds of the selector")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads per process")
    parser.add_argument("--jobs", type=int, default=1, help="evaluate: outer folds in parallel processes")
    parser.add_argument("--metrics", type=Path, default=None, help="train: results.json of evaluate, for the card")
    parser.add_argument("--name", default="emomucs-4q")
    parser.add_argument("--out", required=True, type=Path, help="evaluate: report folder; train: bundle file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    start = time.perf_counter()
    table, clips, mel, cache, sep = load_table(args)
    extractors = args.extractors == "musicnn"
    tonal = bool(mel.n_chroma)
    if args.command == "evaluate":
        from ..datasets.handcrafted import cached_summary_features

        hand = np.stack([cached_summary_features(c.path, cache) for c in clips])
        result = evaluate_recipe(table, hand, recipes(tonal, extractors), k=args.folds, inner_k=args.inner_folds,
                                 seed=args.seed, jobs=args.jobs)
        result["seconds"] = time.perf_counter() - start
        title = "The musicnn recipe" if extractors else "The built-in model's recipe"
        report = write_report(result, args.out, f"{title} on 4Q ({args.data.name}, {len(table)} clips, "
                                                f"separator {sep.id}{', musicnn on every stem' if extractors else ''})")
        log.info("report: %s", report)
        return 0
    if args.command == "groups":  # what each descriptor group adds, by the selector's inner CV on all clips
        scores = select_final(table, Selector(group_diagnostics(), inner_k=args.inner_folds, seed=args.seed,
                                              calibrate=False)).scores
        atomic_write_text(args.out, json.dumps(scores, indent=1))
        for label, score in scores.items():
            log.info("inner %d-fold CV on all clips: %-60s log loss %.4f ± %.4f, accuracy %.3f", args.inner_folds,
                     label, score["log_loss"], score["log_loss_se"], score["accuracy"])
        return 0
    selector = shipped_selector(tonal, extractors, args.inner_folds, args.seed)
    selection = select_final(table, selector)
    metrics = {}
    if args.metrics:
        shipped = json.loads(args.metrics.read_text())["models"]["shipped"]
        metrics = {"nested_cv": shipped["summary"], "chosen_per_fold": shipped["chosen"]}
    recipe = "selection.extractor_candidates" if extractors else "selection.shipped_candidates"
    info = {"dataset": "4q", "clips": len(table), "windows": args.windows, "recipe": recipe,
            "chosen": selection.candidate.label, "temperature": selection.calibration.temperature,
            "class_bias": list(selection.calibration.bias), "inner_scores": selection.scores,
            "seconds": round(time.perf_counter() - start, 1)}
    bundle = bundle_from_selection(selection, n_mels=mel.n_mels, n_chroma=mel.n_chroma,
                                   frame_rate=mel.frame_rate, mel=mel, separator=sep.spec, name=args.name,
                                   data_info=info, metrics=metrics)
    bundle.save(args.out)
    log.info("saved %s to %s (chose %s)", bundle.id, args.out, selection.candidate.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
