"""Old home of the separators, kept only for importers outside the separators' owners.

Use :mod:`emomucs_core.separators`. Still imported by beetsplug (``SeparatorError``),
cli.py and datasets/__main__.py (``make_separator``, ``SeparatorError``).
"""

from .separators import SEPARATION_RATE, SOURCES, Separator, SeparatorError, load_demucs, make_separator
from .separators.demucs import DemucsSeparator

__all__ = ["SEPARATION_RATE", "SOURCES", "DemucsSeparator", "Separator", "SeparatorError", "load_demucs",
           "make_separator"]
