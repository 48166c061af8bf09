"""``emomucs info``: a model bundle as a short card of aligned lines.

What the model is, what it was trained on, how accurate it measured (3 digits),
its separator, descriptor groups, pretrained extractors and loudness target.
Everything else in the header (per-fold choices, inner scores, calibration
constants) is left to ``emomucs info --json``, which prints the header exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import Bundle

#: Width of a card line, label column included.
WIDTH = 88
#: The label column: ``"separator  "``.
LABEL = 11
#: Metric sections a bundle may carry, best first, with how the card names them.
METRIC_SECTIONS = (("nested_cv", "nested CV"), ("cross_validation", "CV"), ("final_val", "validation split"))
#: The figures the card shows, in order, with their names on it; any other metric stays in ``--json``.
METRICS = (
    ("quadrant_acc", "quadrant"),
    ("valence_bacc", "valence sign (balanced)"),
    ("arousal_bacc", "arousal sign (balanced)"),
    ("Q3_recall", "sad (Q3) recall"),
    ("valence_r2", "valence R²"),
    ("arousal_r2", "arousal R²"),
    ("brier", "Brier"),
)
#: Dataset ids of ``emomucs train --dataset`` and the recipe, as the card names them.
DATASETS = {"4q": "the 4Q dataset", "pmemo": "PMEmo", "deam": "DEAM", "csv": "a CSV list"}


def card_lines(bundle: Bundle) -> list[str]:
    """The card of ``bundle``: one ``label value`` line per fact, long values wrapped under the value column."""
    from .nets import count_parameters

    cfg = bundle.config
    rows = [
        ("model", bundle.id),
        ("trained on", trained_on(bundle.data)),
        ("accuracy", accuracy(bundle.metrics)),
        ("separator", separator_id(bundle.separator)),
        ("groups", ", ".join(cfg.descriptor_groups) if cfg.descriptors else "none (the network reads the features)"),
        ("extractors", extractors(bundle.extractors)),
        ("loudness", "not scaled" if bundle.loudness_lufs is None
         else f"scaled to {bundle.loudness_lufs:g} LUFS before any feature"),
        ("network", f"{cfg.arch.upper()} {'+'.join(cfg.sources)}"
                    f"{' ' + cfg.fusion + ' fusion' if len(cfg.sources) > 1 else ''}, {cfg.head} head, "
                    f"{count_parameters(bundle.model):,} parameters"),
    ]
    lines = []
    for label, value in rows:
        lines += [f"{label if n == 0 else '':<{LABEL - 1}} {part}" for n, part in enumerate(_wrap(value))]
    return lines


def _wrap(value: str) -> list[str]:
    """``value`` in lines that fit beside the label column, broken after a ``", "`` (a figure stays whole)."""
    lines = [""]
    for n, item in enumerate(value.split(", ")):
        piece = item if n == 0 else f", {item}"
        if lines[-1] and len(lines[-1]) + len(piece.rstrip()) > WIDTH - LABEL:
            lines[-1] += ","
            lines.append(item)
        else:
            lines[-1] += piece
    return lines


def trained_on(data: dict[str, Any]) -> str:
    """``the 4Q dataset, 900 clips, 3 windows each``; a bundle's own description when it has no dataset."""
    if "dataset" not in data:
        return str(data.get("name", "not recorded"))
    parts = [DATASETS.get(data["dataset"], str(data["dataset"]))]
    if "clips" in data:
        parts.append(f"{data['clips']} clips")
    if "windows" in data:
        parts.append(f"{data['windows']} windows each")
    return ", ".join(parts)


def accuracy(metrics: dict[str, Any]) -> str:
    """The first metric section the bundle has, as ``nested CV: quadrant 0.707 ± 0.031, ...``."""
    for key, name in METRIC_SECTIONS:
        section = metrics.get(key)
        if isinstance(section, dict):
            figures = [f"{label} {_figure(section[k])}" for k, label in METRICS if k in section]
            if figures:
                return f"{name}: " + ", ".join(figures)
    return "not measured"


def separator_id(spec: dict[str, Any] | None) -> str:
    """``offline:v7``; ``none (mix only)`` for a model of the mix."""
    if not spec:
        return "none (mix only)"
    return spec["backend"] + (f":{spec['model']}" if spec.get("model") else "")


def extractors(records: list[dict[str, str]]) -> str:
    """``musicnn MSD_musicnn (weights sha256 276bf4c83a89)``, one per record; ``none``."""
    if not records:
        return "none"
    return "; ".join(f"{r.get('name', '?')} {r.get('model', '')} (weights sha256 {r.get('weights_sha256', '?')[:12]})"
                     .replace("  ", " ") for r in records)


def _figure(value: Any) -> str:
    if isinstance(value, dict) and {"mean", "std"} <= value.keys():
        return f"{value['mean']:.3f} ± {value['std']:.3f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
