"""A trained model on clips of a :class:`~.data.FeatureSet`: embeddings, probabilities, unit values, metrics.

Every function averages over a clip's K windows and leaves the model's train/eval mode as it found it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..heads import head_of
from ..nets import EmoMucs
from .data import FeatureSet
from .metrics import evaluate

#: Validation metrics kept in a training history row (besides ``val_loss``).
HISTORY_METRICS = ("quadrant_acc", "valence_r2", "arousal_r2")


@torch.no_grad()
def embed_windows(
    model: EmoMucs, data: FeatureSet, idx: np.ndarray, batch: int = 48
) -> dict[str, torch.Tensor]:
    """Fusion-stage features of every window of clips ``idx``: ``{source: (n, K, d)}`` (eval mode)."""
    was_training = model.training
    model.eval()
    idx = np.asarray(idx, int)
    k = data.n_windows
    per_clip = max(1, batch // k)
    parts: dict[str, list[torch.Tensor]] = {s: [] for s in model.sources}
    for start in range(0, len(idx), per_clip):
        chunk = idx[start : start + per_clip]
        x = {
            s: torch.from_numpy(data.feats[s][chunk].astype(np.float32)).flatten(0, 1)
            for s in model.sources
        }
        for s, e in model.embed(x).items():
            parts[s].append(e.view(len(chunk), k, -1))
    model.train(was_training)
    return {s: torch.cat(p) if p else torch.zeros(0, k, 0) for s, p in parts.items()}


@torch.no_grad()
def fuse_proba(model: EmoMucs, emb: dict[str, torch.Tensor]) -> torch.Tensor:
    """``{source: (n, K, d)}`` -> head probabilities ``(n, K, outputs)`` through the fusion head (eval).

    Probabilities as :meth:`~emomucs_core.heads.Head.proba` gives them.
    """
    was_training = model.training
    model.eval()
    n, k = next(iter(emb.values())).shape[:2]
    out = head_of(model.cfg.head).proba(model.fuse({s: e.flatten(0, 1) for s, e in emb.items()})).view(n, k, -1)
    model.train(was_training)
    return out


def predict_proba(model: EmoMucs, data: FeatureSet, idx: np.ndarray, batch: int = 48,
                  emb: dict[str, torch.Tensor] | None = None) -> np.ndarray:
    """Head probabilities of clips ``idx``, mean over their K windows: ``(n, outputs)``.

    ``emb``: their :func:`embed_windows` features, when already computed.
    """
    emb = embed_windows(model, data, idx, batch) if emb is None else emb
    return fuse_proba(model, emb).mean(dim=1).numpy()


def predict(model: EmoMucs, data: FeatureSet, idx: np.ndarray, batch: int = 48) -> np.ndarray:
    """Unit (valence, arousal) of clips ``idx`` from their K windows' mean output: ``(n, 2)``."""
    return head_of(model.cfg.head).to_unit(predict_proba(model, data, idx, batch))


def evaluate_model(model: EmoMucs, data: FeatureSet, idx: np.ndarray, *, p: np.ndarray | None = None,
                   batch: int = 48) -> dict[str, float]:
    """All metrics (:func:`~.metrics.evaluate`) of ``model`` on clips ``idx``, plus ``loss``.

    ``p``: precomputed :func:`predict_proba` outputs ``(n, outputs)``.
    """
    head = head_of(model.cfg.head)
    p = predict_proba(model, data, idx, batch) if p is None else np.asarray(p)
    y = data.targets[idx]
    metrics = evaluate(y, head.to_unit(p), [data.quadrants[i] for i in idx], head.quadrants(p))
    metrics["loss"] = float(head.proba_loss(torch.from_numpy(p), torch.from_numpy(y)))
    return metrics


def validation_metrics(model: EmoMucs, data: FeatureSet, val_idx: np.ndarray,
                       p: np.ndarray | None = None) -> dict[str, float]:
    """``val_loss`` and :data:`HISTORY_METRICS` on clips ``val_idx`` (``val_loss`` NaN without clips)."""
    if not len(val_idx):
        return {"val_loss": float("nan")}
    metrics = evaluate_model(model, data, val_idx, p=p)
    return {"val_loss": metrics["loss"], **{k: metrics[k] for k in HISTORY_METRICS}}
