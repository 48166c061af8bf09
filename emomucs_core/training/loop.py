"""The one epoch loop of every gradient-trained stage, with early stopping and resume.

AdamW with a learning rate decaying along a cosine per step; after each epoch the
validation loss decides early stopping (the first ``ignore_first`` epochs never count),
and the best state is restored at the end. With a checkpoint path, a
:class:`ResumeState` is written after every epoch, so an interrupted stage restarts at
its last finished epoch and ends with the weights it would have had.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from ..atomic import atomic_path
from .inference import HISTORY_METRICS
from .options import TrainOptions

Log = Callable[[str], None]


@dataclass
class ResumeState:
    """A stage's progress: early-stopping bookkeeping and, for a checkpoint, everything to go on.

    epoch : last finished epoch, 0-based (-1: none yet).
    history : one row per finished epoch (see :func:`run_epochs`).
    best_loss, best_epoch, best_weights : the lowest validation loss after the ignored
        epochs, its epoch and the model's state dict then (None: no such epoch yet).
    stopped : early stopping has ended the stage.
    model, optimiser, scheduler : their state dicts after ``epoch`` (set by :meth:`capture`).
    torch_rng, batch_rng : states of torch's global generator (dropout, mixup weights) and of
        the stage's batch generator; window_rng : state of the numpy generator drawing
        windows and augmentation (None when the stage has none).
    """

    epoch: int = -1
    history: list[dict] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = -1
    best_weights: dict[str, torch.Tensor] | None = None
    stopped: bool = False
    model: dict[str, Any] | None = None
    optimiser: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    torch_rng: torch.Tensor | None = None
    batch_rng: torch.Tensor | None = None
    window_rng: dict[str, Any] | None = None

    @property
    def epochs_without_improvement(self) -> int:
        """Finished epochs since the best one (all of them before a best epoch exists)."""
        return self.epoch - self.best_epoch

    def record(self, model: torch.nn.Module, row: dict, *, ignore_first: int, patience: int) -> None:
        """Add finished epoch ``row`` (with ``epoch`` and ``val_loss``); keep the model's state if it is the best."""
        self.epoch = row["epoch"]
        self.history.append(row)
        loss = row["val_loss"]
        if self.epoch < ignore_first or not math.isfinite(loss):
            return
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, self.epoch
            self.best_weights = copy.deepcopy(model.state_dict())
        else:
            self.stopped = self.epochs_without_improvement >= patience

    def restore_best(self, model: torch.nn.Module) -> None:
        """Load the best epoch's weights into ``model`` (unchanged when there is none)."""
        if self.best_weights is not None:
            model.load_state_dict(self.best_weights)

    def capture(self, model: torch.nn.Module, optimiser: torch.optim.Optimizer, scheduler: Any,
                batch_rng: torch.Generator, window_rng: np.random.Generator | None) -> None:
        """Take the current training state (references, not copies: :meth:`save` right after)."""
        self.model, self.optimiser, self.scheduler = model.state_dict(), optimiser.state_dict(), scheduler.state_dict()
        self.torch_rng, self.batch_rng = torch.get_rng_state(), batch_rng.get_state()
        self.window_rng = None if window_rng is None else window_rng.bit_generator.state

    def apply(self, model: torch.nn.Module, optimiser: torch.optim.Optimizer, scheduler: Any,
              batch_rng: torch.Generator, window_rng: np.random.Generator | None) -> None:
        """Put a loaded state back into the live objects (the inverse of :meth:`capture`)."""
        model.load_state_dict(self.model)
        optimiser.load_state_dict(self.optimiser)
        scheduler.load_state_dict(self.scheduler)
        torch.set_rng_state(self.torch_rng)
        batch_rng.set_state(self.batch_rng)
        if window_rng is not None:
            window_rng.bit_generator.state = self.window_rng

    def save(self, path: Path) -> None:
        """Write the state to ``path`` atomically (tensors and JSON text only: loads with ``weights_only``)."""
        meta = {"best_loss": self.best_loss, "best_epoch": self.best_epoch, "stop": self.stopped,
                "history": self.history, "rng": self.window_rng}
        state = {"epoch": self.epoch, "model": self.model, "optimiser": self.optimiser, "scheduler": self.scheduler,
                 "best_state": self.best_weights or {}, "meta": json.dumps(meta),
                 "generator": self.batch_rng, "torch_rng": self.torch_rng}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: Path) -> ResumeState:
        """Read a state written by :meth:`save` (errors propagate: the caller decides)."""
        state = torch.load(path, weights_only=True)
        meta = json.loads(state["meta"])
        return cls(epoch=state["epoch"], history=meta["history"], best_loss=meta["best_loss"],
                   best_epoch=meta["best_epoch"], best_weights=state["best_state"] or None, stopped=meta["stop"],
                   model=state["model"], optimiser=state["optimiser"], scheduler=state["scheduler"],
                   torch_rng=state["torch_rng"], batch_rng=state["generator"], window_rng=meta["rng"])


def cosine_schedule(optimiser: torch.optim.Optimizer, total_steps: int,
                    min_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate factor from 1 down to ``min_ratio`` along half a cosine over ``total_steps`` steps."""
    def factor(step: int) -> float:
        t = min(step / max(total_steps, 1), 1.0)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(optimiser, factor)


def run_epochs(
    model: torch.nn.Module,
    *,
    trained: torch.nn.Module,
    batches: Callable[[], Iterable[tuple[Any, torch.Tensor]]],
    steps_per_epoch: int,
    loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
    validate: Callable[[], dict],
    options: TrainOptions,
    stage: str,
    log: Log,
    batch_rng: torch.Generator,
    window_rng: np.random.Generator | None = None,
    checkpoint: Path | None = None,
    log_every: int = 1,
) -> list[dict]:
    """Train the parameters of ``trained`` (``model`` or part of it) for ``options.epochs`` epochs.

    batches : one epoch's ``(inputs, targets)`` batches, drawn with ``batch_rng`` (and ``window_rng``),
        ``steps_per_epoch`` of them; loss_fn : ``(inputs, targets) -> scalar loss``.
    validate : the model's validation row fields (``val_loss`` first; see
        :func:`~.inference.validation_metrics`); ``val_loss`` NaN turns early stopping off.
    options : ``epochs``, ``lr``, ``weight_decay``, ``min_lr_ratio``, ``ignore_first``, ``patience``.
    checkpoint : where the :class:`ResumeState` goes after each epoch (removed at the end); an
        existing one is resumed. log_every : log every this many epochs (and the last one).
    Returns the history: one dict per epoch with ``stage``, ``epoch``, ``train_loss``,
    ``val_loss``, validation metrics, ``lr`` and ``seconds``. ``model`` ends with its best state.
    """
    params = [p for p in trained.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=options.lr, weight_decay=options.weight_decay)
    scheduler = cosine_schedule(optimiser, options.epochs * steps_per_epoch, options.min_lr_ratio)
    state = _resume(checkpoint, model, optimiser, scheduler, batch_rng, window_rng, log)
    for epoch in range(state.epoch + 1, options.epochs):
        if state.stopped:
            break
        start, losses = time.perf_counter(), []
        trained.train()
        for x, y in batches():
            loss = loss_fn(x, y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            losses.append(loss.item())
        row = {"stage": stage, "epoch": epoch, "train_loss": float(np.mean(losses)), **validate(),
               "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - start}
        state.record(model, row, ignore_first=options.ignore_first, patience=options.patience)
        if epoch % log_every == log_every - 1 or epoch == options.epochs - 1 or state.stopped:
            log(format_row(row, options.epochs))
        if checkpoint is not None:
            state.capture(model, optimiser, scheduler, batch_rng, window_rng)
            state.save(checkpoint)
    state.restore_best(model)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return state.history


def _resume(path: Path | None, model: torch.nn.Module, optimiser: torch.optim.Optimizer, scheduler: Any,
            batch_rng: torch.Generator, window_rng: np.random.Generator | None, log: Log) -> ResumeState:
    """The checkpoint at ``path`` put back into the live objects, or a fresh state when there is none."""
    if path is None or not path.is_file():
        return ResumeState()
    fresh = ResumeState()
    fresh.capture(model, optimiser, scheduler, batch_rng, window_rng)
    fresh = copy.deepcopy(fresh)  # the live objects' own tensors are overwritten by apply()
    try:
        state = ResumeState.load(path)
        state.apply(model, optimiser, scheduler, batch_rng, window_rng)
    except Exception as exc:  # a corrupt or foreign file: start the stage again, from the fresh state
        fresh.apply(model, optimiser, scheduler, batch_rng, window_rng)
        log(f"{path.name}: cannot resume ({type(exc).__name__}: {exc}); starting over")
        return ResumeState()
    log(f"resumed {path.name} after epoch {state.epoch + 1}")
    return state


def format_row(row: dict, epochs: int) -> str:
    """One log line for a history row."""
    extra = " ".join(f"{k}={row[k]:.3f}" for k in HISTORY_METRICS if k in row)
    return (f"[{row['stage']}] epoch {row['epoch'] + 1}/{epochs} loss={row['train_loss']:.4f} "
            f"val_loss={row['val_loss']:.4f} {extra} lr={row['lr']:.2e} {row['seconds']:.1f}s")
