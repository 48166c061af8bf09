"""Words and confidences derived from a prediction: mood, mood confidence, dominant source.

Pure functions of numbers (no torch, no beets), documented in docs/plugin.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

#: Mood word per Russell quadrant (Q1 V+A+, Q2 V-A+, Q3 V-A-, Q4 V+A-): the
#: circumplex's four quarters as named in Russell (1980) and Posner, Russell &
#: Peterson (2005): happy/excited, tense/angry, sad/depressed, calm/relaxed.
MOODS = ("happy", "tense", "sad", "calm")
#: No source leads clearly when the gap between the two largest source
#: magnitudes is below this (unit valence + arousal) ...
MIXED_MARGIN = 0.02
#: ... or below this fraction of the largest magnitude.
MIXED_FRACTION = 0.10
MIXED = "mixed"


def quadrant(valence: float, arousal: float) -> int:
    """Russell quadrant index 0..3 (Q1..Q4) of unit valence and arousal (0.5 is the centre, counted as high)."""
    if valence >= 0.5:
        return 0 if arousal >= 0.5 else 3
    return 1 if arousal >= 0.5 else 2


def mood(valence: float, arousal: float) -> str:
    """The mood word of the quadrant of (valence, arousal), e.g. ``sad`` for V-A-."""
    return MOODS[quadrant(valence, arousal)]


def mood_confidence(valence: float, arousal: float, probabilities: Sequence[float] | None = None) -> float:
    """Confidence in the mood, 0..1.

    With a quadrant head's ``probabilities`` (P(Q1..Q4)), the probability of
    the mood's quadrant (the largest one whenever it agrees with the
    valence/arousal quadrant). Otherwise ``max(v, 1-v) * max(a, 1-a)``: the
    probability of the quadrant if valence and arousal were independent
    probabilities of "high"; 0.25 at the centre, 1 in a corner.
    """
    if probabilities:
        return float(probabilities[quadrant(valence, arousal)])
    return max(valence, 1 - valence) * max(arousal, 1 - arousal)


@dataclass(frozen=True)
class Dominance:
    """Which source moves the prediction most, and by how much more than the next.

    label : the leading source, or ``mixed`` when none leads clearly.
    leader, runner_up : the two sources with the largest ``|c_valence| + |c_arousal|``.
    margin : the difference of those two magnitudes (unit values).
    """

    label: str
    leader: str
    runner_up: str | None
    margin: float


def dominance(contributions: dict[str, dict[str, float]]) -> Dominance | None:
    """Rank sources by ``|c_valence| + |c_arousal|`` (the engine's dominant-source rule).

    ``mixed`` when the margin is below :data:`MIXED_MARGIN` or below
    :data:`MIXED_FRACTION` of the leader's magnitude. None without contributions.
    """
    if not contributions:
        return None
    size = {s: abs(c["valence"]) + abs(c["arousal"]) for s, c in contributions.items()}
    ranked = sorted(size, key=size.get, reverse=True)
    leader = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    margin = size[leader] - size[runner_up] if runner_up else size[leader]
    clear = margin >= MIXED_MARGIN and margin >= MIXED_FRACTION * size[leader]
    return Dominance(leader if clear or runner_up is None else MIXED, leader, runner_up, margin)
