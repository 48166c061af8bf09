"""Files in, predictions out: each file's windows (:func:`~.tracks.read_track`) through the model, batched.

Windows of many files are batched through the separator and the model
(:class:`~.pipeline.InferenceStep`); files are read by a pool of threads while the
previous batch runs. A file that cannot be analysed yields a :class:`Prediction`
with ``error`` set, and the rest of the batch goes on.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from .attribution import dominant_source
from .checkpoint import Bundle, load_bundle
from .device import choose_device
from .pipeline import InferenceStep
from .prediction import Prediction
from .separators import Separator, SeparatorError, UnknownSeparator, make_separator, parse_id
from .tracks import TrackInput, read_track

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """A file on its way through the model: its input (audio dropped once batched) and its windows' outputs."""

    track: TrackInput
    unit: list[np.ndarray] = field(default_factory=list)  # per window (2,)
    contrib: list[np.ndarray] = field(default_factory=list)  # per window (n_sources, 2)
    probs: list[np.ndarray] = field(default_factory=list)  # per window (4,), quadrant heads only


class Predictor:
    """Run a model bundle over audio files.

    Parameters
    ----------
    bundle : a :class:`Bundle`, a path to one, or None for the packaged default model.
    separator : a :class:`Separator`, a spec/id for :func:`make_separator`, or None for
        the separator the bundle was trained with. A different one is used but warned about.
    device : ``auto``, ``cpu``, ``cuda`` or ``mps``: for the model and the separator.
    windows : analysis windows per track (K).
    batch_size : windows per separator and model batch; None: 16 on a GPU (where one
        large batch keeps the device busy while threads decode the next files); on the
        CPU 4, or 1 when torch runs one thread (as in each of N workers on N cores:
        as fast per window there, with a third less peak memory; with 2 threads a
        batch of 1 took 2-3x the CPU time of 4, docs/benchmarks.md "Start-up").
    threads : decoding threads.
    demucs_repo : local folder of demucs weights (passed to a demucs separator only).
    """

    def __init__(
        self,
        bundle: Bundle | str | Path | None = None,
        separator: Separator | str | dict | None = None,
        device: str = "auto",
        windows: int = 3,
        batch_size: int | None = None,
        threads: int = 2,
        demucs_repo: str | Path | None = None,
    ):
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.model = self.bundle.model.eval()
        self.device = choose_device(device)
        self.model.to(self.device)
        self.sources = self.model.sources
        if int(windows) < 1:
            raise ValueError(f"windows must be at least 1 (got {windows})")
        self.windows = int(windows)
        self.batch_size = max(1, int(batch_size or _default_batch(self.device)))
        self.threads = max(1, int(threads))
        self.separator = self._separator(separator, device, demucs_repo)
        self.step = InferenceStep(self.model, mel=self.bundle.mel, window_seconds=self.bundle.window_seconds,
                                  separator=self.separator, device=self.device)
        on_cpu = self.device.type == "cpu" and self.separator is not None
        #: torch intra-op threads while analysing (None: as they are): the separator's cap on the CPU.
        self.analysis_threads = self.separator.cpu_threads if on_cpu else None

    @property
    def model_id(self) -> str:
        return self.bundle.id

    def _separator(self, separator, device, repo) -> Separator | None:
        trained = self.bundle.separator
        if all(s == "mix" for s in self.sources):
            return None
        if separator is None and not trained:
            raise ValueError("the bundle names no separator; pass one")
        if not isinstance(separator, Separator):
            spec = trained if separator is None else separator
            demucs = parse_id(spec)[0] == "demucs"  # the weights folder is for demucs only
            try:
                separator = make_separator(spec, repo=repo if demucs else None, device=device)
            except UnknownSeparator as exc:
                if separator is not None:
                    raise
                raise SeparatorError(f"model {self.bundle.id} was trained with separator {exc.name}, which this "
                                     f"version does not have (it has {', '.join(exc.choices)})") from None
        if trained and parse_id(separator.spec) != parse_id(trained):
            log.warning(
                "separator %s differs from the one the model was trained with (%s:%s); results may be off",
                separator.id, trained.get("backend"), trained.get("model", ""),
            )
        return separator

    # -- public -----------------------------------------------------------
    def predict(self, paths: Iterable[str | Path]) -> Iterator[Prediction]:
        """Yield one :class:`Prediction` per path, in order."""
        pending: deque[_Pending] = deque()
        queue: list[tuple[_Pending, int]] = []  # (file, window index) awaiting a batch
        with ThreadPoolExecutor(self.threads) as pool:
            for item in _lookahead(pool, self._read, paths, 2 * self.threads):
                pending.append(item)
                track = item.track
                if track.spans:  # a span separator: one file's spans are one batch
                    windows = [(item, k) for k in range(len(track.starts))]
                    self._store(windows, lambda: self.step.from_spans(track.spans, track.window_samples))
                    track.spans = None
                elif track.audio is not None:
                    queue += [(item, k) for k in range(len(track.starts))]
                while len(queue) >= self.batch_size:
                    self._run(queue[: self.batch_size])
                    del queue[: self.batch_size]
                yield from map(self._result, self._finished(pending))
            while queue:
                self._run(queue[: self.batch_size])
                del queue[: self.batch_size]
                yield from map(self._result, self._finished(pending))

    def predict_one(self, path: str | Path) -> Prediction:
        return next(self.predict([path]))

    # -- steps ------------------------------------------------------------
    def _read(self, path: str | Path) -> _Pending:
        """The file's windows, or spans for a span separator (at its rate, on the features' hop)."""
        spans = self.step.analyses_spans
        return _Pending(read_track(path, self.windows, self.bundle.window_seconds,
                                   span_rate=self.separator.span_rate if spans else None,
                                   hop_seconds=self.bundle.mel.hop_seconds,
                                   loudness_lufs=self.bundle.loudness_lufs))

    def _run(self, batch: list[tuple[_Pending, int]]) -> None:
        batch = [(item, k) for item, k in batch if not item.track.error]
        if batch:
            self._store(batch, lambda: self.step(np.stack([item.track.audio[k] for item, k in batch])))

    def _store(self, batch: list[tuple[_Pending, int]], infer) -> None:
        """Run ``infer()`` (the inference step over the windows of ``batch``) and give each file its windows' outputs."""
        try:
            with _intra_op_threads(self.analysis_threads):
                unit, contrib, probs = infer()
        except Exception as exc:
            reason = f"analysis failed ({type(exc).__name__}: {exc})".splitlines()[0]
            for item, _ in batch:
                item.track.error = item.track.error or reason
            return
        for j, (item, _) in enumerate(batch):
            item.unit.append(unit[j])
            item.contrib.append(contrib[j])
            if probs is not None:
                item.probs.append(probs[j])

    @staticmethod
    def _finished(pending: deque[_Pending]) -> Iterator[_Pending]:
        """Pop files from the front of ``pending`` whose every window is done."""
        while pending and (pending[0].track.error or len(pending[0].unit) == len(pending[0].track.starts)):
            yield pending.popleft()

    def _result(self, item: _Pending) -> Prediction:
        track = item.track
        elapsed = time.perf_counter() - track.started
        track.audio = None
        if track.error:
            return Prediction(track.path, model_id=self.model_id, elapsed=elapsed, error=track.error,
                              duration=track.duration)
        unit = np.stack(item.unit)  # (K, 2)
        contrib = np.stack(item.contrib).mean(axis=0)  # (n_sources, 2)
        prediction = Prediction(
            path=track.path,
            valence=float(unit[:, 0].mean()),
            arousal=float(unit[:, 1].mean()),
            windows=[
                {"start": round(s, 3), "valence": float(u[0]), "arousal": float(u[1])}
                for s, u in zip(track.starts, unit)
            ],
            model_id=self.model_id,
            elapsed=elapsed,
            duration=track.duration,
            warnings=track.warnings,
            quadrant_probabilities=[float(p) for p in np.mean(item.probs, axis=0)] if item.probs else None,
        )
        if self.model.fused:
            prediction.contributions = {
                s: {"valence": float(c[0]), "arousal": float(c[1])} for s, c in zip(self.sources, contrib)
            }
            prediction.dominant_source = dominant_source(torch.from_numpy(contrib[None]), self.sources)[0]
        return prediction


def _default_batch(device: torch.device) -> int:
    """Windows per batch when none is given (see :class:`Predictor`'s ``batch_size``)."""
    if device.type != "cpu":
        return 16
    return 1 if torch.get_num_threads() == 1 else 4


@contextmanager
def _intra_op_threads(threads: int | None) -> Iterator[None]:
    """At most ``threads`` torch intra-op threads inside the block (None: unchanged); restored after it."""
    before = torch.get_num_threads()
    if threads is None or threads >= before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _lookahead(pool: ThreadPoolExecutor, fn, items: Iterable, depth: int) -> Iterator:
    """``map(fn, items)`` on ``pool``, in order, with at most ``depth`` calls in flight."""
    futures: deque = deque()
    for item in items:
        futures.append(pool.submit(fn, item))
        if len(futures) >= depth:
            yield futures.popleft().result()
    while futures:
        yield futures.popleft().result()
