"""Predict many files on every core: one :class:`Predictor` per worker process.

:func:`predict_files` hands files to ``jobs`` worker processes (started with
``spawn``, never ``fork``, so no torch or OpenMP thread state is copied), one
file at a time per worker, and yields the results in input order from the
parent, which is the only process that ever sees them all (and so the only
writer, in the plugin). Each worker loads the model once and runs torch,
OpenMP, MKL and OpenBLAS with ``max(1, cores // jobs)`` threads, so ``jobs``
workers do not oversubscribe the cores.

A worker that dies (segfault, out-of-memory kill) becomes an error
:class:`Prediction` for the file it held, and a new worker takes its place.
Ctrl-C stops every worker at once; the results that had finished are yielded
(in input order) before the ``KeyboardInterrupt`` is raised again.

This module imports neither numpy nor torch, so a worker can set its thread
counts before they load, and the parent never loads them: workers send
:class:`~emomucs_core.prediction.Prediction` objects of plain Python values.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .prediction import Prediction

#: ``on_ready(model_id, workers, seconds)``: the model is loaded, by ``workers`` processes, ``seconds`` after the start.
ReadyCallback = Callable[[str, int, float], None]

#: Environment variables that size the thread pools of numerical libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
#: A pool gives up after this many workers per job died while loading the model.
_START_FAILURES_PER_JOB = 3
#: Seconds a terminated worker gets to exit before it is killed.
_STOP_TIMEOUT = 2.0
#: glibc's ``mallopt`` parameter numbers (malloc.h).
_M_ARENA_MAX, _M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD = -8, -3, -1
#: Bytes: a worker's blocks up to this size come from its heap (glibc's largest allowed value) ...
_MMAP_THRESHOLD = 32 << 20
#: ... and the heap keeps up to this much free memory at its top for the next file.
_TRIM_THRESHOLD = 256 << 20


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def threads_per_worker(jobs: int, cores: int | None = None) -> int:
    """Threads for each of ``jobs`` workers: ``max(1, cores // jobs)``."""
    return max(1, (cores or available_cores()) // max(1, jobs))


def predict_files(
    paths: Iterable[str | Path], *, jobs: int | None = None, on_ready: ReadyCallback | None = None,
    **predictor_kwargs: Any,
) -> Iterator[Prediction]:
    """Yield one :class:`Prediction` per path, in input order, using ``jobs`` processes.

    Parameters
    ----------
    paths : audio files; read lazily, a few ahead.
    jobs : worker processes; None = :func:`available_cores`. Never more workers
        than files; with ``jobs=1`` or a single file the work runs in this
        process (torch's own thread settings).
    on_ready : called once, in this process, when the model is loaded: by every
        worker, or by as many as had loaded it when the first result arrives
        (a worker can die while loading); with the seconds since the first ``next()``.
    predictor_kwargs : passed to :class:`~emomucs_core.predictor.Predictor`
        (``bundle``, ``separator``, ``device``, ``windows``, ...); they must pickle.

    Raises
    ------
    The error of a worker that cannot build its predictor (a missing bundle,
    an unknown separator), on the first ``next()``; ``KeyboardInterrupt``
    after the finished results have been yielded.
    """
    jobs = available_cores() if jobs is None else int(jobs)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    started = time.perf_counter()
    files = iter(paths)
    first = list(itertools.islice(files, jobs))
    if not first:
        return
    if len(first) == 1:
        from .predictor import Predictor

        predictor = Predictor(**predictor_kwargs)
        if on_ready is not None:
            on_ready(predictor.model_id, 1, time.perf_counter() - started)
        yield from predictor.predict(itertools.chain(first, files))
        return
    yield from _Pool(len(first), predictor_kwargs, on_ready, started).run(itertools.chain(first, files))


@dataclass
class _Task:
    index: int
    path: Path
    sent: float  # perf_counter() when handed over


class _Worker:
    """One worker process and the pipe to it; holds at most one task."""

    def __init__(self, context, predictor_kwargs: dict, threads: int):
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, predictor_kwargs, threads, os.getpid()), name="emomucs-worker", daemon=True
        )
        with _sigint_ignored():  # the child inherits it: a Ctrl-C during its start-up is the parent's
            self.process.start()
        child.close()
        self.ready = False
        self.task: _Task | None = None

    def give(self, task: _Task) -> bool:
        """Send ``task``; False when the worker is already gone."""
        try:
            self.conn.send((task.index, str(task.path)))
        except OSError:
            return False
        self.task = task
        return True

    @property
    def dead(self) -> bool:
        return self.process.exitcode is not None

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()

    def reap(self, timeout: float) -> None:
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class _Pool:
    """``jobs`` workers fed one file at a time; results re-ordered by input index."""

    def __init__(self, jobs: int, predictor_kwargs: dict, on_ready: ReadyCallback | None, started: float):
        self.jobs = jobs
        self.kwargs = predictor_kwargs
        self.on_ready, self.started = on_ready, started
        self.loaded = 0  # workers that have reported "ready", replacements included
        self.threads = threads_per_worker(jobs)
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.model_id = ""
        self.start_failures = 0

    def run(self, paths: Iterable[str | Path]) -> Iterator[Prediction]:
        files = ((i, Path(p)) for i, p in enumerate(paths))
        retry: deque[tuple[int, Path]] = deque()  # files whose worker died before taking them
        done: dict[int, Prediction] = {}
        next_out, exhausted = 0, False
        try:
            for _ in range(self.jobs):
                self.workers.append(self._start())
            while True:
                for worker in self.workers:
                    if worker.ready and worker.task is None and not (exhausted and not retry):
                        item = retry.popleft() if retry else next(files, None)
                        if item is None:
                            exhausted = True
                        elif not worker.give(_Task(*item, time.perf_counter())):
                            retry.append(item)
                while next_out in done:
                    self._announce()
                    yield done.pop(next_out)
                    next_out += 1
                if exhausted and not retry and not any(w.task for w in self.workers):
                    return
                self._collect(done)
        except KeyboardInterrupt:
            self._shutdown()
            for index in sorted(done):
                yield done.pop(index)
            raise
        finally:
            self._shutdown()

    def _announce(self) -> None:
        """Call ``on_ready`` (once) with the workers that have loaded the model."""
        if self.on_ready is not None:
            on_ready, self.on_ready = self.on_ready, None
            on_ready(self.model_id, min(self.loaded, self.jobs), time.perf_counter() - self.started)

    def _start(self) -> _Worker:
        return _Worker(self.context, self.kwargs, self.threads)

    def _collect(self, done: dict[int, Prediction]) -> None:
        """Wait until a worker reports or dies; file its results and replace it if dead."""
        handles = {w.conn: w for w in self.workers} | {w.process.sentinel: w for w in self.workers}
        for worker in dict.fromkeys(handles[h] for h in wait(list(handles))):
            self._read(worker, done)
            if worker.dead:
                self._replace(worker, done)

    def _read(self, worker: _Worker, done: dict[int, Prediction]) -> None:
        """Take every message waiting on ``worker``'s pipe."""
        for kind, *body in _messages(worker.conn):
            if kind == "ready":
                worker.ready, self.model_id = True, body[0]
                self.loaded += 1
                if self.loaded == self.jobs:
                    self._announce()
            elif kind == "result":
                done[body[0]] = body[1]
                worker.task = None
            elif kind == "failed":  # the predictor cannot be built: the same in every worker
                raise body[0]

    def _replace(self, worker: _Worker, done: dict[int, Prediction]) -> None:
        """File the task of a dead worker as an error and start another worker."""
        worker.reap(0)
        reason = _exit_reason(worker.process.exitcode)
        if worker.task is not None:
            done[worker.task.index] = _error(worker.task, f"worker process {reason}", self.model_id)
        elif not worker.ready:
            self.start_failures += 1
            if self.start_failures >= _START_FAILURES_PER_JOB * self.jobs:
                raise RuntimeError(f"worker processes keep dying while loading the model (last one {reason})")
        self.workers[self.workers.index(worker)] = self._start()

    def _shutdown(self) -> None:
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            worker.reap(_STOP_TIMEOUT)
        self.workers = []


def _messages(conn: Connection) -> Iterator[tuple]:
    """The messages waiting on ``conn``; stops at a pipe broken by a dying worker."""
    try:
        while conn.poll():
            yield conn.recv()
    except (EOFError, OSError):
        return


def _error(task: _Task, reason: str, model_id: str) -> Prediction:
    return Prediction(task.path, model_id=model_id, elapsed=time.perf_counter() - task.sent, error=reason)


def _exit_reason(exitcode: int | None) -> str:
    """``exitcode`` of a dead worker in words (negative: killed by that signal)."""
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
        hint = " (out of memory?)" if number == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with status {exitcode}"


@contextmanager
def _sigint_ignored():
    """Ignore SIGINT while starting a child (it inherits the setting); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _serve(conn: Connection, predictor_kwargs: dict, threads: int, parent: int) -> None:
    """Worker main: build a predictor, then answer ``(index, path)`` requests until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops workers; Ctrl-C is its to handle
    _tune_malloc()
    _exit_with_parent(parent)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
        from .predictor import Predictor

        predictor = Predictor(**predictor_kwargs)
    except Exception as exc:
        conn.send(("failed", _picklable(exc)))
        return
    conn.send(("ready", predictor.model_id))
    while True:
        try:
            index, path = conn.recv()
        except EOFError:  # the parent is gone
            return
        started = time.perf_counter()
        try:
            result = next(predictor.predict([path]))
        except Exception as exc:  # a bug must cost one file, not a worker
            reason = f"analysis failed ({type(exc).__name__}: {exc})".splitlines()[0]
            result = _error(_Task(index, Path(path), started), reason, predictor.model_id)
        conn.send(("result", index, result))


def _tune_malloc() -> None:
    """Let a worker's heap reuse what it freed (glibc only; elsewhere nothing). Call before any thread starts.

    - One malloc arena: glibc otherwise gives each thread that allocates (the
      decoding threads) its own, each keeping what it freed.
    - Blocks up to :data:`_MMAP_THRESHOLD` come from the heap, and free memory stays
      in it up to :data:`_TRIM_THRESHOLD`: the feature tensors of one file (up to
      about 20 MiB each) are then carved out of pages the previous file touched,
      not mapped afresh and faulted in page by page.

    Measured on 60 clips with 2 workers (``perf stat``, idle machine): 0.15 million
    page faults and 16.1-17.6 s of CPU, against 1.5-1.6 million and 19.4-21.2 s when
    each worker gave its free heap back after every file (``malloc_trim``); peak RSS
    per worker 391-403 MiB against 384-400.
    """
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_ARENA_MAX, 1)
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


def _exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """Exit within ``interval`` seconds once process ``parent`` is gone (killed before it could stop us)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _picklable(exc: Exception) -> Exception:
    """``exc`` itself when it survives pickling, else a RuntimeError with its message."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
