"""Text safe for one output line: control characters (a newline in a file name) escaped."""

from __future__ import annotations

import os


def printable(text: str | os.PathLike) -> str:
    """``text`` with each non-printable character written as its Python escape (``\\n``, ``\\x1b``); others kept."""
    text = os.fspath(text)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
