"""Train one EmoMucs model on part of a :class:`FeatureSet`, in the paper's three modes.

* ``full``: every weight from scratch, end to end.
* ``freeze``: pre-train each source model alone (a single-source EmoMucs), copy its
  weights into the fused model, then train only the fusion head (on cached
  source embeddings: the frozen source nets run once per window).
* ``finetune``: as ``freeze``, then train everything with a small learning rate.

Models without a CNN (``arch="desc"``) have only the linear fusion head to fit (freeze).

Loss: MSE on targets scaled to [-1, 1] (head ``regression``), BCE-with-logits on
0/1 or soft targets (head ``logistic``), or cross-entropy over the four quadrants
(head ``quadrant``, soft targets from (V, A)). AdamW with a cosine-decaying learning rate
(per step); early stopping on the validation clips that ignores the first epochs,
keeping the best state.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..atomic import atomic_path
from ..heads import head_of
from ..nets import EmoMucs, NetConfig
from .data import Augment, FeatureSet, WindowDataset, mixup
from .metrics import evaluate
from .spec import MODES

logger = logging.getLogger(__name__)
Log = Callable[[str], None]


@dataclass
class TrainOptions:
    """Knobs of :func:`train_model` beyond epochs, lr, batch size and seed.

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
        """JSON-able description (for cache keys and result files)."""
        out = asdict(self)
        out.pop("pretrain_dir")
        out.pop("checkpoint_dir")
        out.pop("threads")
        out.pop("eval_batch")
        return out


def train_model(
    cfg: NetConfig,
    data: FeatureSet,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    mode: str = "full",
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 16,
    seed: int = 0,
    log: Log | None = None,
    options: TrainOptions | None = None,
) -> tuple[EmoMucs, list[dict]]:
    """Train a model on clips ``train_idx``, early-stopping on clips ``val_idx``.

    Returns the model (eval mode, best validation state) and the history: one dict
    per epoch with ``stage``, ``epoch``, ``train_loss``, ``val_loss``, validation
    metrics, ``lr`` and ``seconds``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    opts = options or TrainOptions()
    log = log or logger.info
    torch.set_num_threads(max(1, int(opts.threads)))
    train_idx, val_idx = np.asarray(train_idx, int), np.asarray(val_idx, int)
    torch.manual_seed(seed)
    cfg = data.net_config(cfg)
    model = EmoMucs(cfg)
    cnn = cfg.arch != "desc"
    own_stats = mode == "full" or not model.fused  # else copied from the pre-trained source nets
    for s, (mean, std) in (data.band_stats(train_idx, cfg.sources) if cnn and own_stats else {}).items():
        model.set_normalisation(s, torch.from_numpy(mean), torch.from_numpy(std))
    if cfg.descriptors and (own_stats or not cnn):
        for s, (mean, std) in data.descriptor_stats(train_idx, cfg.sources, cfg.frame_rate,
                                                         cfg.descriptor_groups, cfg.n_mels).items():
            model.set_descriptor_normalisation(s, torch.from_numpy(mean), torch.from_numpy(std))
    if not cnn:  # nothing to learn but the linear head
        if mode != "freeze":
            raise ValueError("desc models train in freeze mode only")
        return model.eval(), _fit_head(model, data, train_idx, val_idx, epochs=opts.head_epochs, lr=opts.head_lr,
                                       batch_size=batch_size, seed=seed, opts=opts, log=log)
    if mode == "full" or not model.fused:
        history = _fit(model, data, train_idx, val_idx, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                       opts=opts, log=log, stage="full")
        return model.eval(), history

    history: list[dict] = []
    for s in cfg.sources:
        single, hist = _pretrained_source(cfg, s, data, train_idx, val_idx, epochs=epochs, lr=lr,
                                          batch_size=batch_size, seed=seed, opts=opts, log=log)
        model.source_nets[s].load_state_dict(single.source_nets[s].state_dict())
        history += [dict(h, stage=f"pretrain:{s}") for h in hist]
    history += _fit_head(model, data, train_idx, val_idx, epochs=opts.head_epochs, lr=opts.head_lr,
                         batch_size=batch_size, seed=seed, opts=opts, log=log)
    if mode == "finetune":
        history += _fit(model, data, train_idx, val_idx, epochs=opts.finetune_epochs or epochs,
                        lr=lr * opts.finetune_lr_factor, batch_size=batch_size, seed=seed, opts=opts, log=log,
                        stage="finetune")
    return model.eval(), history


# -- inference ------------------------------------------------------------------
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


def predict_proba(model: EmoMucs, data: FeatureSet, idx: np.ndarray, batch: int = 48,
                  emb: dict[str, torch.Tensor] | None = None) -> np.ndarray:
    """head probabilities (:meth:`~emomucs_core.heads.Head.proba`) of clips ``idx``, mean over their K windows: ``(n, outputs)``.

    ``emb``: their :func:`embed_windows` features, when already computed.
    """
    emb = embed_windows(model, data, idx, batch) if emb is None else emb
    return _fuse_proba(model, emb).mean(dim=1).numpy()


def predict(model: EmoMucs, data: FeatureSet, idx: np.ndarray, batch: int = 48) -> np.ndarray:
    """Unit (valence, arousal) of clips ``idx`` from their K windows' mean output: ``(n, 2)``."""
    return head_of(model.cfg.head).to_unit(predict_proba(model, data, idx, batch))


@torch.no_grad()
def _fuse_proba(model: EmoMucs, emb: dict[str, torch.Tensor]) -> torch.Tensor:
    """``{source: (n, K, d)}`` -> head probabilities (:meth:`~emomucs_core.heads.Head.proba`) ``(n, K, outputs)`` through the fusion head (eval)."""
    was_training = model.training
    model.eval()
    n, k = next(iter(emb.values())).shape[:2]
    out = head_of(model.cfg.head).proba(model.fuse({s: e.flatten(0, 1) for s, e in emb.items()})).view(n, k, -1)
    model.train(was_training)
    return out


# -- training stages ------------------------------------------------------------
def _cosine(optimiser: torch.optim.Optimizer, total_steps: int, min_ratio: float):
    def factor(step: int) -> float:
        t = min(step / max(total_steps, 1), 1.0)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(optimiser, factor)


class _Best:
    """Early-stopping bookkeeping: best validation loss after ``ignore_first`` epochs."""

    def __init__(self, opts: TrainOptions):
        self.opts, self.loss, self.epoch, self.state, self.stop = opts, math.inf, -1, None, False

    def update(self, model: torch.nn.Module, epoch: int, val_loss: float) -> bool:
        """Record epoch ``epoch`` (0-based); True (and ``self.stop``) when training should stop."""
        if epoch < self.opts.ignore_first or not math.isfinite(val_loss):
            return False
        if val_loss < self.loss:
            self.loss, self.epoch = val_loss, epoch
            self.state = copy.deepcopy(model.state_dict())
            return False
        self.stop = epoch - self.epoch >= self.opts.patience
        return self.stop

    def restore(self, model: torch.nn.Module) -> None:
        if self.state is not None:
            model.load_state_dict(self.state)


def evaluate_model(model: EmoMucs, data: FeatureSet, idx: np.ndarray, p: np.ndarray | None = None,
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


def _validate(model: EmoMucs, data: FeatureSet, val_idx: np.ndarray, p: np.ndarray | None = None) -> dict:
    if not len(val_idx):
        return {"val_loss": float("nan")}
    metrics = evaluate_model(model, data, val_idx, p)
    keep = ("quadrant_acc", "valence_r2", "arousal_r2")
    return {"val_loss": metrics["loss"], **{k: metrics[k] for k in keep}}


def _fit(
    model: EmoMucs, data: FeatureSet, train_idx, val_idx, *, epochs: int, lr: float,
    batch_size: int, seed: int, opts: TrainOptions, log: Log, stage: str,
) -> list[dict]:
    """End-to-end training of every parameter of ``model``."""
    dataset = WindowDataset(data, train_idx, model.sources, train=True, augment=opts.augment, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=gen,
                        drop_last=len(dataset) > batch_size)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=opts.weight_decay)
    scheduler = _cosine(optimiser, epochs * len(loader), opts.min_lr_ratio)
    alpha = opts.augment.mixup if opts.augment else 0.0
    best, history = _Best(opts), []
    ckpt = None
    if opts.checkpoint_dir:
        key = _cache_key(model.cfg, data, train_idx, val_idx, epochs, lr, batch_size, seed, opts)
        ckpt = Path(opts.checkpoint_dir) / f"{stage}-{key}.ckpt"
    first = _resume(ckpt, model, optimiser, scheduler, best, history, gen, dataset, log)
    for epoch in range(first, epochs):
        if history and best.stop:
            break
        start, losses = time.perf_counter(), []
        model.train()
        for x, y, _ in loader:
            x, y = mixup(x, y, alpha, gen)
            loss = head_of(model.cfg.head).loss(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            losses.append(loss.item())
        row = {"stage": stage, "epoch": epoch, "train_loss": float(np.mean(losses)),
               **_validate(model, data, val_idx), "lr": scheduler.get_last_lr()[0],
               "seconds": time.perf_counter() - start}
        history.append(row)
        log(_format(row, epochs))
        best.update(model, epoch, row["val_loss"])
        _checkpoint(ckpt, epoch, model, optimiser, scheduler, best, history, gen, dataset)
    best.restore(model)
    if ckpt is not None:
        ckpt.unlink(missing_ok=True)
    return history


def _checkpoint(path, epoch, model, optimiser, scheduler, best, history, gen, dataset) -> None:
    """Atomically save everything needed to continue after ``epoch``."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "epoch": epoch, "model": model.state_dict(), "optimiser": optimiser.state_dict(),
        "scheduler": scheduler.state_dict(), "best_state": best.state or {},
        "meta": json.dumps({"best_loss": best.loss, "best_epoch": best.epoch, "stop": best.stop,
                            "history": history, "rng": dataset.rng.bit_generator.state}),
        "generator": gen.get_state(),
        "torch_rng": torch.get_rng_state(),
    }
    _atomic_save(state, path)


def _atomic_save(obj: dict, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename it to ``path``."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _resume(path, model, optimiser, scheduler, best, history, gen, dataset, log) -> int:
    """Restore a checkpoint of this stage if there is one; returns the first epoch to run."""
    if path is None or not path.is_file():
        return 0
    try:
        state = torch.load(path, weights_only=True)
        meta = json.loads(state["meta"])
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
    except Exception as exc:  # a corrupt or foreign file: start the stage again
        log(f"{path.name}: cannot resume ({type(exc).__name__}: {exc}); starting over")
        return 0
    best.state = state["best_state"] or None
    best.loss, best.epoch, best.stop = meta["best_loss"], meta["best_epoch"], meta["stop"]
    history[:] = meta["history"]
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    dataset.rng.bit_generator.state = meta["rng"]
    log(f"resumed {path.name} after epoch {state['epoch'] + 1}")
    return state["epoch"] + 1


def _fit_head(
    model: EmoMucs, data: FeatureSet, train_idx, val_idx, *, epochs: int, lr: float,
    batch_size: int, seed: int, opts: TrainOptions, log: Log,
) -> list[dict]:
    """Train only the fusion head on cached embeddings of the (frozen) source nets."""
    for p in model.source_nets.parameters():
        p.requires_grad_(False)
    try:
        emb_train = embed_windows(model, data, train_idx, opts.eval_batch)
        emb_val = embed_windows(model, data, val_idx, opts.eval_batch) if len(val_idx) else None
        y_train = torch.from_numpy(data.targets[train_idx])
        if model.cfg.fusion_hidden == 0:
            return _fit_linear_head(model, data, emb_train, y_train, emb_val, val_idx, opts.head_l2, log)
        gen = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.AdamW(model.fusion_head.parameters(), lr=lr, weight_decay=opts.weight_decay)
        n, k = len(train_idx), data.n_windows
        steps = max(1, n // batch_size)
        scheduler = _cosine(optimiser, epochs * steps, opts.min_lr_ratio)
        best, history = _Best(opts), []
        for epoch in range(epochs):
            start, losses = time.perf_counter(), []
            model.fusion_head.train()
            order = torch.randperm(n, generator=gen)
            window = torch.randint(k, (n,), generator=gen)
            for b in range(steps):
                rows = order[b * batch_size : (b + 1) * batch_size]
                x = {s: e[rows, window[rows]] for s, e in emb_train.items()}
                loss = head_of(model.cfg.head).loss(model.fuse(x), y_train[rows])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                scheduler.step()
                losses.append(loss.item())
            p = _fuse_proba(model, emb_val).mean(dim=1).numpy() if emb_val is not None else None
            row = {"stage": "head", "epoch": epoch, "train_loss": float(np.mean(losses)),
                   **_validate(model, data, val_idx, p), "lr": scheduler.get_last_lr()[0],
                   "seconds": time.perf_counter() - start}
            history.append(row)
            if epoch % 10 == 9 or epoch == epochs - 1:
                log(_format(row, epochs))
            if best.update(model, epoch, row["val_loss"]):
                log(_format(row, epochs))
                break
        best.restore(model)
    finally:
        for p in model.source_nets.parameters():
            p.requires_grad_(True)
    return history


def _fit_linear_head(
    model: EmoMucs, data: FeatureSet, emb_train: dict[str, torch.Tensor], y_train: torch.Tensor,
    emb_val: dict[str, torch.Tensor] | None, val_idx, penalties: tuple[float, ...], log: Log,
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
        p = _fuse_proba(model, emb_val).mean(dim=1).numpy() if emb_val is not None else None
        row = {"stage": "head", "epoch": i, "l2": alpha, "train_loss": train_loss,
               **_validate(model, data, val_idx, p), "lr": 0.0, "seconds": time.perf_counter() - start}
        history.append(row)
        log(_format(row, len(penalties)) + f" l2={alpha:g}")
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

    def objective() -> torch.Tensor:
        optimiser.zero_grad()
        loss = head_of(model.cfg.head).loss(linear(z), y) + alpha * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(objective)
    with torch.no_grad():
        return float(head_of(model.cfg.head).loss(linear(z), y))


def _pretrained_source(
    cfg: NetConfig, source: str, data: FeatureSet, train_idx, val_idx, *, epochs: int, lr: float,
    batch_size: int, seed: int, opts: TrainOptions, log: Log,
) -> tuple[EmoMucs, list[dict]]:
    """A single-source model of ``source``, trained or loaded from ``opts.pretrain_dir``."""
    single_cfg = replace(cfg, sources=(source,), fusion="late")  # fusion is unused with one source
    epochs = opts.pretrain_epochs or epochs
    # Settings of later stages do not change a pre-trained source model: leave them out of the key.
    stage_opts = replace(opts, head_epochs=0, head_lr=0.0, finetune_epochs=None, finetune_lr_factor=0.0)
    key = _cache_key(single_cfg, data, train_idx, val_idx, epochs, lr, batch_size, seed, stage_opts)
    path = Path(opts.pretrain_dir) / f"{cfg.arch}-{cfg.head}-{source}-{key}.pt" if opts.pretrain_dir else None
    if path is not None and path.is_file():
        saved = torch.load(path, weights_only=True)
        model = EmoMucs(single_cfg)
        model.load_state_dict(saved["state"])
        log(f"pretrain {source}: reused {path.name}")
        return model.eval(), json.loads(saved["history"])
    log(f"pretrain {source}: {len(train_idx)} clips, {epochs} epochs")
    model, history = train_model(single_cfg, data, train_idx, val_idx, mode="full", epochs=epochs, lr=lr,
                                 batch_size=batch_size, seed=seed, log=log, options=replace(opts, pretrain_dir=None))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_save({"state": model.state_dict(), "history": json.dumps(history)}, path)
    return model, history


def settings_key(cfg: NetConfig, opts: TrainOptions) -> list[dict]:
    """The model config and training options that differ from their defaults.

    Cache and fold keys hash this, so a new setting whose default keeps the old
    behaviour does not invalidate results computed before it existed.
    """
    defaults = NetConfig().to_dict(), TrainOptions().signature()
    return [{k: v for k, v in current.items() if v != default.get(k)}
            for current, default in zip((cfg.to_dict(), opts.signature()), defaults)]


def _cache_key(cfg: NetConfig, data: FeatureSet, train_idx, val_idx, epochs, lr, batch_size, seed,
               opts: TrainOptions) -> str:
    """Hash of everything a training stage's result depends on (settings, split, data identity)."""
    h = hashlib.sha1()
    h.update(json.dumps([settings_key(cfg, opts), epochs, lr, batch_size, seed, data.ids,
                         data.n_windows, data.frames], sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(data.targets).tobytes())
    h.update(np.asarray(train_idx, np.int64).tobytes())
    h.update(b"|")
    h.update(np.asarray(val_idx, np.int64).tobytes())
    return h.hexdigest()[:12]


def _format(row: dict, epochs: int) -> str:
    extra = " ".join(f"{k}={row[k]:.3f}" for k in ("quadrant_acc", "valence_r2", "arousal_r2") if k in row)
    return (f"[{row['stage']}] epoch {row['epoch'] + 1}/{epochs} loss={row['train_loss']:.4f} "
            f"val_loss={row['val_loss']:.4f} {extra} lr={row['lr']:.2e} {row['seconds']:.1f}s")
