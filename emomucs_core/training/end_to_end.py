"""A new model normalised on its training clips, and the stage that trains all its weights end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..heads import head_of
from ..nets import EmoMucs, NetConfig
from .data import FeatureSet, WindowDataset, mixup
from .inference import validation_metrics
from .loop import Log, run_epochs
from .options import TrainOptions, stage_key


def new_model(cfg: NetConfig, data: FeatureSet, train_idx: np.ndarray, *, seed: int,
              pretrained_sources: bool = False) -> EmoMucs:
    """An EmoMucs of ``cfg`` with weights drawn from ``seed``, its inputs normalised on clips ``train_idx``.

    pretrained_sources : the source nets (and their band normalisation) will be copied from
        pre-trained single-source models: only a descriptor-only model gets statistics here.
    """
    torch.manual_seed(seed)
    model = EmoMucs(cfg)
    cnn = cfg.arch != "desc"
    own_stats = not (pretrained_sources and model.fused)
    if cnn and own_stats:
        for s, (mean, std) in data.band_stats(train_idx, cfg.sources).items():
            model.set_normalisation(s, torch.from_numpy(mean), torch.from_numpy(std))
    if cfg.descriptors and (own_stats or not cnn):
        for s, (mean, std) in data.descriptor_stats(train_idx, cfg.sources, cfg.frame_rate,
                                                    cfg.descriptor_groups, cfg.n_mels).items():
            model.set_descriptor_normalisation(s, torch.from_numpy(mean), torch.from_numpy(std))
    return model


def fit_end_to_end(model: EmoMucs, data: FeatureSet, train_idx: np.ndarray, val_idx: np.ndarray, *,
                   options: TrainOptions, log: Log, stage: str) -> list[dict]:
    """Train every parameter of ``model`` on one random (augmented, mixed-up) window per clip and batch.

    ``options.epochs``/``lr`` are this stage's; with ``options.checkpoint_dir`` the stage
    resumes from ``<stage>-<key>.ckpt`` there. Returns the history (:func:`~.loop.run_epochs`).
    """
    dataset = WindowDataset(data, train_idx, model.sources, train=True, augment=options.augment, seed=options.seed)
    gen = torch.Generator().manual_seed(options.seed)
    loader = DataLoader(dataset, batch_size=options.batch_size, shuffle=True, generator=gen,
                        drop_last=len(dataset) > options.batch_size)
    alpha = options.augment.mixup if options.augment else 0.0
    head = head_of(model.cfg.head)

    def batches():
        for x, y, _ in loader:
            yield mixup(x, y, alpha, gen)

    checkpoint = None
    if options.checkpoint_dir:
        key = stage_key(model.cfg, data, train_idx, val_idx, options)
        checkpoint = Path(options.checkpoint_dir) / f"{stage}-{key}.ckpt"
    return run_epochs(model, trained=model, batches=batches, steps_per_epoch=len(loader),
                      loss_fn=lambda x, y: head.loss(model(x), y),
                      validate=lambda: validation_metrics(model, data, val_idx), options=options, stage=stage,
                      log=log, batch_rng=gen, window_rng=dataset.rng, checkpoint=checkpoint)
