"""Claims: two analysis runs on one library never analyse the same item at once.

Each run writes the ids of the items it is about to analyse to a claim file in
``<library db>.emomucs-claims/`` and holds an exclusive ``flock`` on it until
it ends; another run skips the items of every claim whose lock is still held.
A claim whose run died (lock free) is stale and removed. Reading the claims and
writing one's own happen under a folder-wide lock, so two runs starting at the
same moment cannot both take the same items; a run that cannot get that lock
within :data:`LOCK_WAIT` seconds (another run suspended inside it, e.g. by
Ctrl-Z) stops with one line instead of waiting for ever. POSIX only
(``fcntl``); elsewhere, and for in-memory libraries, nothing is claimed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from contextlib import contextmanager
from typing import Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from .errors import SetupError

#: Seconds a run waits for the claims folder's lock before it gives up.
LOCK_WAIT = 30.0


class Claim:
    """This run's claim on some items of the library whose database is ``db_path``."""

    def __init__(self, db_path: str | bytes | None, *, lock_wait: float = LOCK_WAIT):
        db_path = os.fsdecode(db_path) if db_path else ""
        self.lock_wait = lock_wait
        usable = fcntl is not None and db_path and db_path != ":memory:" and os.path.isfile(db_path)
        self.folder = f"{db_path}.emomucs-claims" if usable else None
        self._file = None

    def take(self, ids: Iterable[int]) -> set[int]:
        """Claim ``ids``; returns those another live run has claimed (to be skipped)."""
        ids = set(ids)
        if self.folder is None or not ids:
            return set()
        os.makedirs(self.folder, exist_ok=True)
        with self._folder_lock():
            busy = self._claimed_by_others()
            mine = sorted(ids - busy)
            path = os.path.join(self.folder, f"run-{os.getpid()}.json")
            self._file = open(path, "w")
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            json.dump(mine, self._file)
            self._file.flush()
        return ids & busy

    def release(self) -> None:
        """Drop this run's claim (at the end of the run, finished or not)."""
        if self._file is not None:
            path = self._file.name
            try:
                os.unlink(path)
            finally:
                self._file.close()  # closing releases the lock
                self._file = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @contextmanager
    def _folder_lock(self) -> Iterator[None]:
        path = os.path.join(self.folder, ".lock")
        deadline = time.monotonic() + self.lock_wait
        with open(path, "a") as lock:
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SetupError(f"another emomucs run has held {path} for {self.lock_wait:g} s "
                                         "(is one suspended with Ctrl-Z?); try again when it has ended") from None
                    time.sleep(0.05)
            yield

    def _claimed_by_others(self) -> set[int]:
        busy: set[int] = set()
        for name in os.listdir(self.folder):
            if not name.startswith("run-"):
                continue
            path = os.path.join(self.folder, name)
            try:
                with open(path) as claim:
                    try:
                        fcntl.flock(claim, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    except BlockingIOError:  # its run is alive
                        busy.update(json.load(claim))
                        continue
                os.unlink(path)  # stale: its run ended without releasing
            except (FileNotFoundError, ValueError):
                continue
        return busy
