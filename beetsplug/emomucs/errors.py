"""Errors that stop an analysis before it starts, and one-line reasons."""

from __future__ import annotations


class SetupError(Exception):
    """The analysis cannot start (device, separator options); the message says why."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def model_errors() -> tuple[type[Exception], ...]:
    """Errors that mean the model or separator cannot be used (imported lazily)."""
    from emomucs_core.checkpoint import BundleError
    from emomucs_core.separators import SeparatorError

    return (BundleError, SeparatorError, SetupError)
