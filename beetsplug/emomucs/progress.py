"""Progress of an analysis run on a terminal."""

from __future__ import annotations

import sys
import time

from beets import ui


class Progress:
    """``[n/total] rate ETA`` on a terminal; nothing otherwise (callers log plain lines)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.count = 0
        self.started = time.monotonic()

    def step(self, line: str | None, print_line: bool = False) -> None:
        self.count += 1
        if print_line and line:
            self.clear()
            ui.print_(line)
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.count) / rate if rate > 0 else 0.0
        sys.stdout.write(f"\r[{self.count}/{self.total}] {rate * 60:.1f} items/min, ETA {_duration(eta)}  ")
        sys.stdout.flush()

    def clear(self) -> None:
        """Erase the progress line (before printing or logging something else)."""
        if self.enabled and self.count:
            sys.stdout.write("\r\033[K")

    def close(self) -> None:
        if self.enabled and self.count:
            sys.stdout.write("\n")
            sys.stdout.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
