"""Training the fusion head alone, on embeddings of the frozen source nets computed once per window.

A head with hidden layers trains by the epoch loop (:func:`~.loop.run_epochs`); a linear
head (``fusion_hidden=0``) is fitted by L-BFGS for each L2 penalty, then refitted.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from ..heads import head_of
from ..nets import EmoMucs
from .data import FeatureSet
from .inference import embed_windows, fuse_proba, validation_metrics
from .loop import Log, format_row, run_epochs
from .options import TrainOptions


def fit_head(model: EmoMucs, data: FeatureSet, train_idx: np.ndarray, val_idx: np.ndarray, *,
             options: TrainOptions, log: Log) -> list[dict]:
    """Train only the fusion head (``options.head_epochs``, ``head_lr``; ``head_l2`` for a linear one).

    The source nets are frozen meanwhile. Returns the history rows (stage ``head``, and
    ``head-refit`` for a linear head).
    """
    for p in model.source_nets.parameters():
        p.requires_grad_(False)
    try:
        emb_train = embed_windows(model, data, train_idx, options.eval_batch)
        emb_val = embed_windows(model, data, val_idx, options.eval_batch) if len(val_idx) else None
        y_train = torch.from_numpy(data.targets[train_idx])
        if model.cfg.fusion_hidden == 0:
            return fit_linear_head(model, data, emb_train, y_train, emb_val, val_idx,
                                   penalties=options.head_l2, log=log)
        return _fit_hidden_head(model, data, emb_train, y_train, emb_val, val_idx, options=options, log=log)
    finally:
        for p in model.source_nets.parameters():
            p.requires_grad_(True)


def _fit_hidden_head(
    model: EmoMucs, data: FeatureSet, emb_train: dict[str, torch.Tensor], y_train: torch.Tensor,
    emb_val: dict[str, torch.Tensor] | None, val_idx: np.ndarray, *, options: TrainOptions, log: Log,
) -> list[dict]:
    """Epochs over the training clips, each batch taking one random window per clip.

    ``emb_train``: ``{source: (n, K, d)}``; ``y_train``: ``(n, 2)``.
    """
    gen = torch.Generator().manual_seed(options.seed)
    n, k = len(y_train), data.n_windows
    size = options.batch_size
    steps = max(1, n // size)
    head = head_of(model.cfg.head)

    def batches():
        order = torch.randperm(n, generator=gen)
        window = torch.randint(k, (n,), generator=gen)
        for b in range(steps):
            rows = order[b * size : (b + 1) * size]
            yield {s: e[rows, window[rows]] for s, e in emb_train.items()}, y_train[rows]

    def validate() -> dict:
        p = fuse_proba(model, emb_val).mean(dim=1).numpy() if emb_val is not None else None
        return validation_metrics(model, data, val_idx, p)

    return run_epochs(model, trained=model.fusion_head, batches=batches, steps_per_epoch=steps,
                      loss_fn=lambda x, y: head.loss(model.fuse(x), y), validate=validate,
                      options=replace(options, epochs=options.head_epochs, lr=options.head_lr), stage="head",
                      log=log, batch_rng=gen, log_every=10)


def fit_linear_head(
    model: EmoMucs, data: FeatureSet, emb_train: dict[str, torch.Tensor], y_train: torch.Tensor,
    emb_val: dict[str, torch.Tensor] | None, val_idx: np.ndarray, *, penalties: tuple[float, ...], log: Log,
) -> list[dict]:
    """Fit the linear fusion head (standardise, linear) by L-BFGS for each L2 penalty.

    ``emb_train``: ``{source: (n, K, d)}``; every window is a row with its clip's target.
    The penalty with the best validation loss (the middle one without validation clips)
    is then refitted on the training and validation clips together.
    """
    history = []
    for i, alpha in enumerate(sorted(penalties)):
        start = time.perf_counter()
        train_loss = _fit_linear(model, emb_train, y_train, alpha)
        p = fuse_proba(model, emb_val).mean(dim=1).numpy() if emb_val is not None else None
        row = {"stage": "head", "epoch": i, "l2": alpha, "train_loss": train_loss,
               **validation_metrics(model, data, val_idx, p), "lr": 0.0, "seconds": time.perf_counter() - start}
        history.append(row)
        log(format_row(row, len(penalties)) + f" l2={alpha:g}")
    middle = (len(history) - 1) / 2
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"] if emb_val is not None else abs(i - middle))
    alpha = history[best]["l2"]
    if emb_val is not None:
        emb_train = {s: torch.cat([emb_train[s], emb_val[s]]) for s in emb_train}
        y_train = torch.cat([y_train, torch.from_numpy(data.targets[val_idx])])
    start = time.perf_counter()
    row = {"stage": "head-refit", "epoch": 0, "l2": alpha, "train_loss": _fit_linear(model, emb_train, y_train, alpha),
           "val_loss": float("nan"), "lr": 0.0, "seconds": time.perf_counter() - start}
    log(f"[head] refit with l2={alpha:g} on {len(y_train)} clips: loss={row['train_loss']:.4f}")
    return history + [row]


def _fit_linear(model: EmoMucs, emb: dict[str, torch.Tensor], y: torch.Tensor, alpha: float) -> float:
    """Standardise and fit the linear head to ``loss + alpha * |W|^2`` (L-BFGS, from zero); returns the loss."""
    norm, linear = model.fusion_head
    x = torch.cat([emb[s] for s in model.sources], dim=-1)
    y = y.repeat_interleave(x.shape[1], dim=0)
    x = x.flatten(0, 1)
    norm.set(x.mean(dim=0), x.std(dim=0))
    z = norm(x)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimiser = torch.optim.LBFGS(linear.parameters(), max_iter=500, tolerance_grad=1e-6, line_search_fn="strong_wolfe")
    head = head_of(model.cfg.head)

    def objective() -> torch.Tensor:
        optimiser.zero_grad()
        loss = head.loss(linear(z), y) + alpha * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(objective)
    with torch.no_grad():
        return float(head.loss(linear(z), y))
