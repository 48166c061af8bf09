"""Training options (:class:`TrainOptions`) and the keys that name a training's results."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ..nets import NetConfig
from .data import Augment, FeatureSet

#: Options that never change a result (where and how fast): left out of every key.
_RUNTIME = ("pretrain_dir", "checkpoint_dir", "threads", "eval_batch")
#: Options that :func:`stage_key` hashes on their own, outside :meth:`TrainOptions.signature`.
_STAGE = ("epochs", "lr", "batch_size", "seed")


@dataclass
class TrainOptions:
    """Everything :func:`~.trainer.train_model` is set with, beyond the model config and the clips.

    epochs : epochs of an end-to-end stage (full, and the default of the others).
    lr : AdamW learning rate of an end-to-end stage.
    batch_size : training windows per batch (one random window of each clip).
    seed : seeds the model's initial weights, batch order, windows, augmentation and dropout.
    weight_decay : AdamW decoupled weight decay.
    min_lr_ratio : the cosine schedule decays from ``lr`` to ``lr * min_lr_ratio``.
    ignore_first : epochs never kept as "best" (validation is erratic at first).
    patience : stop after this many epochs without a better validation loss.
    pretrain_epochs : epochs of each single-source pre-training (default: ``epochs``).
    head_epochs, head_lr : fusion-head training on frozen embeddings (freeze/finetune).
    head_l2 : penalties ``alpha`` tried for a linear fusion head (``fusion_hidden=0``), fitted
        by L-BFGS to ``loss + alpha * |W|^2`` on every training window; the one with the best
        validation loss (the middle one without validation clips) is refitted on the training
        and validation clips together.
    finetune_epochs, finetune_lr_factor : end-to-end stage of ``finetune`` (lr x factor).
    augment : training augmentation (None = off).
    threads : ``torch.set_num_threads``.
    eval_batch : windows per inference batch.
    pretrain_dir : folder caching pre-trained source models (reused across fusions/modes).
    checkpoint_dir : folder for per-epoch checkpoints of end-to-end stages: an interrupted
        run restarts at the last finished epoch; the file is removed when the stage ends.
    """

    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 16
    seed: int = 0
    weight_decay: float = 1e-2
    min_lr_ratio: float = 0.01
    ignore_first: int = 3
    patience: int = 8
    pretrain_epochs: int | None = None
    head_epochs: int = 60
    head_lr: float = 3e-3
    head_l2: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
    finetune_epochs: int | None = None
    finetune_lr_factor: float = 0.1
    augment: Augment | None = field(default_factory=Augment)
    threads: int = 2
    eval_batch: int = 24
    pretrain_dir: str | None = None
    checkpoint_dir: str | None = None

    def signature(self) -> dict:
        """JSON-able settings that change results, except epochs, lr, batch size and seed
        (keys and reports give those on their own)."""
        return {k: v for k, v in asdict(self).items() if k not in _RUNTIME + _STAGE}


def settings_key(cfg: NetConfig, opts: TrainOptions) -> list[dict]:
    """The model config and training options that differ from their defaults.

    Cache and fold keys hash this, so a new setting whose default keeps the old
    behaviour does not invalidate results computed before it existed.
    """
    defaults = NetConfig().to_dict(), TrainOptions().signature()
    return [{k: v for k, v in current.items() if v != default.get(k)}
            for current, default in zip((cfg.to_dict(), opts.signature()), defaults)]


def stage_key(cfg: NetConfig, data: FeatureSet, train_idx: np.ndarray, val_idx: np.ndarray,
              opts: TrainOptions) -> str:
    """Hash of everything a training stage's result depends on (settings, split, data identity): 12 hex digits."""
    h = hashlib.sha1()
    h.update(json.dumps([settings_key(cfg, opts), opts.epochs, opts.lr, opts.batch_size, opts.seed, data.ids,
                         data.n_windows, data.frames], sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(data.targets).tobytes())
    h.update(np.asarray(train_idx, np.int64).tobytes())
    h.update(b"|")
    h.update(np.asarray(val_idx, np.int64).tobytes())
    return h.hexdigest()[:12]
