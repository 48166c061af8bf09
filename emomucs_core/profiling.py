"""Optional per-stage timing: where a run's time goes (decode, stem features, each extractor, head, attribution).

Off by default: :func:`stage` then returns one shared no-op context manager
(a global lookup per call, nothing recorded, no output changed). Inside
``with collect() as profile:`` every thread of the process records, per stage
name, wall seconds, its own thread's CPU seconds and the number of calls.
Stages nest; each records its *own* time, without the stages opened inside it,
so the stages of a run add up to the time spent in all of them. On a GPU the
device is synchronised at each stage's end while profiling, so a stage's time
includes its kernels.

    with profiling.collect() as profile:
        results = list(predictor.predict(files))
    print(profile.table(len(files)))
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Iterator

_NO_OP = nullcontext()
_active: Profile | None = None
_stack = threading.local()  # per thread: the open stages' [wall, cpu] spent in stages opened inside them


@dataclass
class Profile:
    """Totals per stage, in the order stages were first seen: seconds and calls."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def open(self, name: str) -> None:
        """Give stage ``name`` its place in the table (where it first opened, not where it first ended)."""
        with self._lock:
            self.wall.setdefault(name, 0.0)
            self.cpu.setdefault(name, 0.0)
            self.calls.setdefault(name, 0)

    def add(self, name: str, wall: float, cpu: float) -> None:
        with self._lock:
            self.wall[name] = self.wall.get(name, 0.0) + wall
            self.cpu[name] = self.cpu.get(name, 0.0) + cpu
            self.calls[name] = self.calls.get(name, 0) + 1

    def table(self, tracks: int = 1) -> str:
        """A Markdown table: per stage, ms per track (wall and this thread's CPU), share of the CPU, calls."""
        total_cpu = sum(self.cpu.values()) or 1.0
        rows = ["| stage | wall ms per track | CPU ms per track | share of CPU | calls |", "|---|---|---|---|---|"]
        for name in self.wall:
            rows.append(f"| {name} | {1000 * self.wall[name] / tracks:.1f} | {1000 * self.cpu[name] / tracks:.1f} "
                        f"| {100 * self.cpu[name] / total_cpu:.0f} % | {self.calls[name]} |")
        rows.append(f"| all stages | {1000 * sum(self.wall.values()) / tracks:.1f} "
                    f"| {1000 * sum(self.cpu.values()) / tracks:.1f} | 100 % | |")
        return "\n".join(rows)


@contextmanager
def collect() -> Iterator[Profile]:
    """Record every :func:`stage` of this process, in every thread, into the yielded :class:`Profile`."""
    global _active
    before, _active = _active, Profile()
    try:
        yield _active
    finally:
        _active = before


def stage(name: str):
    """A context manager timing the block as stage ``name`` while :func:`collect` is on (else a no-op)."""
    return _NO_OP if _active is None else _Timer(_active, name)


class _Timer:
    __slots__ = ("profile", "name", "wall", "cpu", "inner")

    def __init__(self, profile: Profile, name: str):
        self.profile, self.name = profile, name

    def __enter__(self) -> None:
        self.profile.open(self.name)
        stack = _stack.__dict__.setdefault("open", [])
        self.inner = [0.0, 0.0]
        stack.append(self.inner)
        self.wall, self.cpu = time.perf_counter(), time.thread_time()

    def __exit__(self, *exc) -> None:
        _synchronise()
        wall, cpu = time.perf_counter() - self.wall, time.thread_time() - self.cpu
        stack = _stack.open
        stack.pop()
        if stack:  # the enclosing stage does not count this one's time as its own
            stack[-1][0] += wall
            stack[-1][1] += cpu
        self.profile.add(self.name, wall - self.inner[0], cpu - self.inner[1])


def _synchronise() -> None:
    """Wait for queued CUDA kernels (when torch is loaded and CUDA started), so they count in the stage."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.synchronize()
