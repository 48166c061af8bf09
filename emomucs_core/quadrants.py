"""Russell quadrants of unit valence/arousal: one rule for dataset labels, predictions and reports.

Q1 V+A+ (happy), Q2 V-A+ (tense), Q3 V-A- (sad), Q4 V+A- (calm). Values are unit
(0..1, 0.5 neutral); a value of exactly 0.5 counts as positive.
"""

from __future__ import annotations

from typing import Iterable

from .constants import QUADRANTS  # noqa: F401  (re-exported with the rule)


def quadrant_of(valence: float, arousal: float) -> str:
    """Quadrant of one unit (valence, arousal) pair; 0.5 counts as positive."""
    if arousal >= 0.5:
        return "Q1" if valence >= 0.5 else "Q2"
    return "Q4" if valence >= 0.5 else "Q3"


def quadrants_of(unit: Iterable[Iterable[float]]) -> list[str]:
    """:func:`quadrant_of` of every (valence, arousal) row of ``unit`` ``(N, 2)``."""
    return [quadrant_of(float(v), float(a)) for v, a in unit]
