"""Train one EmoMucs model on part of a :class:`~.data.FeatureSet`, in the paper's three modes.

* ``full``: every weight from scratch, end to end (:mod:`.end_to_end`).
* ``freeze``: pre-train each source model alone (:mod:`.pretrain`), copy its weights into
  the fused model, then train only the fusion head on embeddings of the frozen source
  nets (:mod:`.fusion_head`).
* ``finetune``: as ``freeze``, then train everything with a small learning rate.

Models without a CNN (``arch="desc"``) have only the linear fusion head to fit (freeze).

Loss: the head's (:mod:`~emomucs_core.heads`): MSE on targets scaled to [-1, 1]
(``regression``), BCE-with-logits on 0/1 or soft targets (``logistic``), or cross-entropy
over the four quadrants (``quadrant``). Every gradient-trained stage runs the one epoch
loop of :mod:`.loop` (AdamW, cosine learning rate per step, early stopping, resume).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import torch

from ..nets import EmoMucs, NetConfig
from .data import FeatureSet
from .end_to_end import fit_end_to_end, new_model
from .fusion_head import fit_head
from .loop import Log
from .options import TrainOptions
from .pretrain import pretrained_source
from .spec import MODES

logger = logging.getLogger(__name__)


def train_model(
    cfg: NetConfig,
    data: FeatureSet,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    mode: str = "full",
    options: TrainOptions | None = None,
    log: Log | None = None,
) -> tuple[EmoMucs, list[dict]]:
    """Train a model on clips ``train_idx``, early-stopping on clips ``val_idx``.

    ``options`` holds epochs, learning rate, batch size, seed and the rest (default
    :class:`TrainOptions`). Returns the model (eval mode, best validation state) and the
    history: one dict per epoch with ``stage``, ``epoch``, ``train_loss``, ``val_loss``,
    validation metrics, ``lr`` and ``seconds``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    opts = options or TrainOptions()
    log = log or logger.info
    torch.set_num_threads(max(1, int(opts.threads)))
    train_idx, val_idx = np.asarray(train_idx, int), np.asarray(val_idx, int)
    cfg = data.net_config(cfg)
    model = new_model(cfg, data, train_idx, seed=opts.seed, pretrained_sources=mode != "full")
    if cfg.arch == "desc":  # nothing to learn but the linear head
        if mode != "freeze":
            raise ValueError("desc models train in freeze mode only")
        return model.eval(), fit_head(model, data, train_idx, val_idx, options=opts, log=log)
    if mode == "full" or not model.fused:
        return model.eval(), fit_end_to_end(model, data, train_idx, val_idx, options=opts, log=log, stage="full")

    history: list[dict] = []
    for s in cfg.sources:
        single, hist = pretrained_source(cfg, s, data, train_idx, val_idx, options=opts, log=log)
        model.source_nets[s].load_state_dict(single.source_nets[s].state_dict())
        history += [dict(h, stage=f"pretrain:{s}") for h in hist]
    history += fit_head(model, data, train_idx, val_idx, options=opts, log=log)
    if mode == "finetune":
        finetune = replace(opts, epochs=opts.finetune_epochs or opts.epochs, lr=opts.lr * opts.finetune_lr_factor)
        history += fit_end_to_end(model, data, train_idx, val_idx, options=finetune, log=log, stage="finetune")
    return model.eval(), history
