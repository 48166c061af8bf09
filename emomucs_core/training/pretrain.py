"""Pre-training of one source model alone (freeze, finetune), cached across fusions and modes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from ..nets import EmoMucs, NetConfig
from .data import FeatureSet
from .end_to_end import fit_end_to_end, new_model
from .loop import Log
from .options import TrainOptions, stage_key


def pretrained_source(cfg: NetConfig, source: str, data: FeatureSet, train_idx: np.ndarray, val_idx: np.ndarray,
                      *, options: TrainOptions, log: Log) -> tuple[EmoMucs, list[dict]]:
    """A single-source model of ``source`` (eval mode) and its history (stage ``full``).

    Trained end to end for ``options.pretrain_epochs`` (default ``epochs``), or loaded from
    ``options.pretrain_dir`` when a model of the same settings, clips and split is there.
    """
    single_cfg = replace(cfg, sources=(source,), fusion="late")  # fusion is unused with one source
    opts = replace(options, epochs=options.pretrain_epochs or options.epochs, pretrain_dir=None)
    # Settings of later stages do not change a pre-trained source model: leave them out of the key.
    later_stages_off = replace(opts, head_epochs=0, head_lr=0.0, finetune_epochs=None, finetune_lr_factor=0.0)
    key = stage_key(single_cfg, data, train_idx, val_idx, later_stages_off)
    path = Path(options.pretrain_dir) / f"{cfg.arch}-{cfg.head}-{source}-{key}.pt" if options.pretrain_dir else None
    if path is not None and path.is_file():
        saved = torch.load(path, weights_only=True)
        model = EmoMucs(single_cfg)
        model.load_state_dict(saved["state"])
        log(f"pretrain {source}: reused {path.name}")
        return model.eval(), json.loads(saved["history"])
    log(f"pretrain {source}: {len(train_idx)} clips, {opts.epochs} epochs")
    model = new_model(single_cfg, data, train_idx, seed=opts.seed)
    history = fit_end_to_end(model, data, train_idx, val_idx, options=opts, log=log, stage="full")
    if path is not None:
        with atomic_path(path) as tmp:
            torch.save({"state": model.state_dict(), "history": json.dumps(history)}, tmp)
    return model.eval(), history
