"""Live progress of an analysis run, through tqdm.

On a terminal (stderr is a tty): what is loading, said at once, then one bar
with the count, percentage, rate, ETA and the track in progress; result lines
and beets' log lines are printed above the bar. Elsewhere: plain log lines,
one per track, prefixed with ``[n/total]``.

tqdm (not rich or enlighten): it is already installed with demucs (one
dependency less to pull), it knows how to print log lines above a bar
(``logging_redirect_tqdm``) and it draws nothing when disabled.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import ExitStack
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm
from tqdm.utils import _screen_shape_wrapper

#: Widest track description shown beside the bar (characters).
TRACK_WIDTH = 48
#: Columns the bar leaves free at the right margin: the ``^C`` a terminal echoes on Ctrl-C fits
#: there instead of wrapping onto a new line (the bar redrawn there left the old one standing).
ECHO_MARGIN = 2
#: Back to the line's start and erase it (the bar and any ``^C`` echoed after it).
CLEAR_LINE = "\r\x1b[K"


class _WarmBar(tqdm):
    """A bar whose rate and ETA count from the first finished track.

    The first track pays for start-up (model warm-up, the first batch of
    windows, decoding ahead); the ETA until the second track is ``?``.
    """

    warm_n: int = 0
    warm_t: float | None = None

    def __init__(self, *args: Any, file=None, **kwargs: Any):
        screen = _screen_shape_wrapper()
        if screen is None:
            super().__init__(*args, file=file, dynamic_ncols=True, **kwargs)
            return

        def narrower(fp) -> tuple[int | None, int | None]:
            cols, rows = screen(fp)
            return (max(cols - ECHO_MARGIN, 10) if cols else cols), rows

        super().__init__(*args, file=file, ncols=narrower(file)[0], **kwargs)
        self.dynamic_ncols = narrower  # follows the terminal's width, as dynamic_ncols=True would

    @property
    def format_dict(self) -> dict[str, Any]:
        info = super().format_dict
        if self.warm_t is None or self.n <= self.warm_n:
            info["rate"], info["initial"] = None, self.n  # tqdm then shows the ETA as "?"
        else:
            info["rate"] = (self.n - self.warm_n) / max(time.monotonic() - self.warm_t, 1e-9)
        return info

    def finished_one(self) -> None:
        self.update(1)
        if self.warm_t is None:
            self.warm_n, self.warm_t = self.n, time.monotonic()


class Progress:
    """Progress of ``total`` tracks; ``live`` draws a bar, otherwise ``log`` gets plain lines."""

    def __init__(self, total: int, *, live: bool, log: logging.Logger | Any, desc: str = "emomucs"):
        self.total, self.live, self.log, self.desc = total, live, log, desc
        self.count = 0
        self.bar: _WarmBar | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Progress:
        if self.live:
            self._stack.enter_context(logging_redirect_tqdm(loggers=[logging.getLogger("beets")]))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(interrupted=exc_type is KeyboardInterrupt)

    def begin(self) -> None:
        """Show the bar (nothing off a terminal)."""
        if self.live and self.bar is None:
            self.bar = _WarmBar(total=self.total, desc=self.desc, unit="track", smoothing=0, file=sys.stderr,
                                leave=True)

    def working_on(self, track: str | None) -> None:
        """Name the track in progress beside the bar."""
        if self.bar is not None:
            self.bar.set_postfix_str(_shorten(track) if track else "", refresh=True)

    def finished(self, line: str | None = None, *, echo: bool = False) -> None:
        """One track is done: ``line`` is its result, printed when ``echo`` (always on stdout), else logged."""
        self.count += 1
        if line is not None:
            if echo:
                self.print(line)
            elif not self.live:
                self.log.info("[{}/{}] {}", self.count, self.total, line)
        if self.bar is not None:
            self.bar.finished_one()

    def print(self, line: str) -> None:
        """Print a line on stdout (above the bar on a terminal)."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            from beets import ui

            ui.print_(line)

    def close(self, *, interrupted: bool = False) -> None:
        """Leave the bar as it stands, once. ``interrupted`` (Ctrl-C): first erase its line, ``^C`` and all."""
        if self.bar is not None:
            self.bar.set_postfix_str("", refresh=False)
            if interrupted and not self.bar.disable:
                self.bar.fp.write(CLEAR_LINE)
            self.bar.close()
            self.bar = None
        self._stack.close()


def say(message: str, *, live: bool, log: logging.Logger | Any) -> None:
    """Tell the user something at once (e.g. what is loading): on the terminal, or in the log."""
    if live:
        tqdm.write(f"emomucs: {message}", file=sys.stderr)
    else:
        log.info("{}", message)


def _shorten(text: str, width: int = TRACK_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
