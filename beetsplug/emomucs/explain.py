"""``beet emomucs --explain``: each source's signed contribution as a text chart and in words.

The contributions are Shapley values: per dimension they sum to the prediction
minus the prediction with every source absent (the *baseline*), so a chart row
shows how far one source moves the value from there.
"""

from __future__ import annotations

from .fields import DIMENSIONS
from .labels import MIXED, dominance, mood
from .points import TrackPoint

#: A contribution smaller than this (in unit values) "hardly changes" the value.
NEGLIGIBLE = 0.005
#: Half-width of a chart row in characters, and the smallest contribution that fills it.
HALF_WIDTH = 12
MIN_FULL_SCALE = 0.1

_NAMES = {"vocals": "the vocals", "drums": "the drums", "bass": "the bass", "other": "the other instruments"}
_SINGULAR = {"bass"}
#: (verb for up, verb for down, what up means, what down means) per dimension.
_WORDS = {
    "valence": ("push", "pull", "brighter", "darker"),
    "arousal": ("push", "pull", "more energetic", "calmer"),
}


def describe(source: str, dim: str, value: float) -> str:
    """One sentence: how ``source`` moves ``dim`` (e.g. "the vocals pull valence down by 0.12 (darker)")."""
    name = _NAMES.get(source, f"the {source}")
    singular = source in _SINGULAR
    if abs(value) < NEGLIGIBLE:
        return f"{name} {'hardly changes' if singular else 'hardly change'} {dim}"
    up, down, up_means, down_means = _WORDS[dim]
    verb = up if value > 0 else down
    verb = verb + "es" if singular and verb.endswith("sh") else verb + "s" if singular else verb
    direction, meaning = ("up", up_means) if value > 0 else ("down", down_means)
    return f"{name} {verb} {dim} {direction} by {abs(value):.2f} ({meaning})"


def signed(value: float) -> str:
    """``value`` with its sign and two decimals (+0.12, -0.12); one that rounds to zero reads +0.00, never -0.00."""
    return f"{round(value, 2) + 0.0:+.2f}"


def bar(value: float, scale: float, *, half_width: int = HALF_WIDTH, unicode: bool = True) -> str:
    """A bar left (negative) or right (positive) of a zero axis, ``2 * half_width + 1`` characters."""
    block, axis = ("█", "│") if unicode else ("#", "|")
    cells = min(half_width, round(abs(value) / scale * half_width)) if scale > 0 else 0
    left = (block * cells if value < 0 else "").rjust(half_width)
    right = (block * cells if value > 0 else "").ljust(half_width)
    return left + axis + right


def explain(point: TrackPoint, *, unicode: bool = True) -> list[str]:
    """Lines explaining one track: a header, then per dimension a chart row and a sentence per source.

    The bars of one track share a scale: the largest absolute contribution
    (at least ``MIN_FULL_SCALE``) fills ``HALF_WIDTH`` characters.
    """
    if point.error and not point.analysed:
        return [f"{point.label}: could not be analysed ({point.error})"]
    if not point.analysed:
        return [f"{point.label}: not analysed yet (run `beet emomucs` on it)"]
    word = mood(point.valence, point.arousal)
    lines = [f"{point.label}: valence {point.valence:.3f}, arousal {point.arousal:.3f} ({word})"]
    if not point.contributions:
        lines.append("  no per-source contributions (the model does not separate sources)")
        return lines
    scale = max([MIN_FULL_SCALE] + [abs(c[d]) for c in point.contributions.values() for d in DIMENSIONS])
    width = max(len(s) for s in point.contributions)
    for dim in DIMENSIONS:
        value = getattr(point, dim)
        baseline = value - sum(c[dim] for c in point.contributions.values())
        lines.append(f"  {dim} {value:.3f}: {baseline:.3f} with no source, then")
        for source, contribution in point.contributions.items():
            c = contribution[dim]
            lines.append(
                f"    {source:<{width}} {bar(c, scale, unicode=unicode)} {signed(c)}  {describe(source, dim, c)}"
            )
    lines.append(f"  {dominance_words(point.contributions)}")
    return lines


def dominance_words(contributions: dict[str, dict[str, float]]) -> str:
    """Which source moves the emotion most (``|c_valence| + |c_arousal|``), and by how much over the next.

    Uses the plugin's own rule (:func:`labels.dominance`), ``mixed`` included.
    """
    lead = dominance(contributions)
    if lead.runner_up is None:
        return f"dominant source: {lead.leader}"
    gap = f"{lead.leader} {lead.margin:.3f} ahead of {lead.runner_up}"
    if lead.label == MIXED:
        return f"dominant source: mixed (no source leads clearly: {gap})"
    return f"dominant source: {lead.leader} ({gap})"
