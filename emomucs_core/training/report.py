"""Reports: Markdown tables shaped like the paper's Tables 1 and 2, and PNG figures.

* Table 1: model, parameters, valence RMSE/R², arousal RMSE/R², quadrant accuracy,
  sign balanced accuracies (mean ± std over outer folds).
* Table 2: EmoMucs fusion x training mode, same columns.
* Fig. 3: out-of-fold predictions on the valence/arousal plane, coloured by dominant source.
* Fig. 4: a metric of the fused model for each non-empty subset of sources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_path
from .metrics import KEYS

COLUMNS = {
    "valence_rmse": "V RMSE", "valence_r2": "V R²", "arousal_rmse": "A RMSE", "arousal_r2": "A R²",
    "quadrant_acc": "Quadrant acc", "valence_bacc": "V sign bacc", "arousal_bacc": "A sign bacc",
}
SOURCE_COLOURS = {"vocals": "tab:red", "drums": "tab:blue", "bass": "tab:green", "other": "tab:orange", "mix": "tab:gray"}


def fmt(stat: dict[str, float] | None) -> str:
    """``mean ± std`` with 3 decimals; ``-`` when missing."""
    if not stat or stat.get("mean") is None or np.isnan(stat["mean"]):
        return "-"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def table1(rows: Sequence[dict]) -> str:
    """Markdown Table 1 from rows ``{"name", "n_params", "summary": {metric: {mean, std}}}``."""
    header = ["Model", "Params"] + [COLUMNS[k] for k in KEYS]
    body = [[r["name"], f"{r['n_params']:,}" if r.get("n_params") else "-"] + [fmt(r["summary"].get(k)) for k in KEYS]
            for r in rows]
    return _table(header, body)


def table2(rows: Sequence[dict]) -> str:
    """Markdown Table 2: fused models only, one row per (architecture, fusion, mode, extras).

    Extras: the ``summary`` and ``descriptors`` branches and a linear fusion head.
    """
    fused = [r for r in rows if len(r.get("config", {}).get("sources", [])) > 1]
    fused.sort(key=lambda r: (r["config"]["arch"], r["config"]["fusion"], ("full", "freeze", "finetune").index(r["mode"]),
                              _extras(r["config"])))
    header = ["Arch", "Fusion", "Mode", "Extras"] + [COLUMNS[k] for k in KEYS]
    body = [[r["config"]["arch"].upper(), r["config"]["fusion"], r["mode"], _extras(r["config"]) or "-"]
            + [fmt(r["summary"].get(k)) for k in KEYS] for r in fused]
    return _table(header, body)


def _extras(config: dict) -> str:
    """``summary``, ``descriptors`` and ``linear head`` as set in a model config."""
    extras = [k for k in ("summary", "descriptors") if config.get(k) and config.get("arch") != "desc"]
    return ", ".join(extras + (["linear head"] if config.get("fusion_hidden") == 0 else []))


def plot_va_plane(
    preds: np.ndarray, dominant: Sequence[str | None], path: str | Path,
    title: str = "", targets: np.ndarray | None = None,
) -> Path:
    """Paper Fig. 3: unit predictions ``(N, 2)`` as points on the V/A plane, colour = dominant source.

    Clips with NaN predictions are skipped. ``targets`` (optional) are drawn as faint crosses.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    preds = np.asarray(preds, float)
    ok = ~np.isnan(preds).any(axis=1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if targets is not None:
        t = np.asarray(targets, float)[ok]
        ax.scatter(t[:, 0], t[:, 1], marker="x", s=10, c="lightgray", label="target")
    labels = np.array([d or "n/a" for d in dominant], dtype=object)[ok] if len(dominant) else np.array(["n/a"] * ok.sum(), dtype=object)
    for name in sorted(set(labels)):
        sel = labels == name
        ax.scatter(preds[ok][sel, 0], preds[ok][sel, 1], s=14, c=SOURCE_COLOURS.get(name, "black"),
                   label=f"{name} ({sel.sum()})")
    ax.axhline(0.5, c="k", lw=0.5)
    ax.axvline(0.5, c="k", lw=0.5)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="valence", ylabel="arousal", title=title or "Predictions by dominant source")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def plot_ablation(subsets: Sequence[tuple[tuple[str, ...], dict[str, float]]], path: str | Path,
                  metric: str = "quadrant_acc", title: str = "") -> Path:
    """Paper Fig. 4: bar chart of ``metric`` for each subset of sources (from :meth:`CVResult.subset_metrics`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subsets = sorted(subsets, key=lambda s: (len(s[0]), s[0]))
    labels = ["+".join(x[0] for x in names) for names, _ in subsets]  # initials: v+d+b+o
    values = [m[metric] for _, m in subsets]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(labels)), 4))
    ax.bar(range(len(values)), values, color=[("tab:blue" if len(n) < 4 else "tab:red") for n, _ in subsets])
    ax.set_xticks(range(len(values)), labels, rotation=60, fontsize=8)
    ax.set(ylabel=COLUMNS.get(metric, metric), title=title or f"Source-subset ablation ({COLUMNS.get(metric, metric)})")
    fig.tight_layout()
    return _save(fig, path)


def subset_table(subsets: Sequence[tuple[tuple[str, ...], dict[str, float]]]) -> str:
    """Markdown table of the metrics per source subset (pooled out-of-fold predictions)."""
    header = ["Sources"] + [COLUMNS[k] for k in KEYS]
    rows = [[" + ".join(names)] + [f"{m[k]:.3f}" for k in KEYS] for names, m in sorted(subsets, key=lambda s: (len(s[0]), s[0]))]
    return _table(header, rows)


def _save(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
