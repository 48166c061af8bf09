"""``beet emomucs --map FILE.png``: the library on the valence/arousal plane (the paper's Fig. 3).

One dot per analysed track, coloured by its dominant source; optional album
means; quadrant labels with their mood words. Drawn with matplotlib's Agg
canvas (no display, no pyplot state), imported only when a map is drawn.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .output import counted, replace_atomically
from .labels import MOODS
from .points import QUADRANT_CENTRES, TrackPoint

#: Dot colour per dominant source (matplotlib's tab10 colours); any other value is grey.
SOURCE_COLOURS = {"vocals": "#d62728", "drums": "#1f77b4", "bass": "#2ca02c", "other": "#ff7f0e"}
OTHER_COLOUR = "#7f7f7f"
#: Figure size (inches) and resolution: the PNG is 900 x 720 pixels.
FIGSIZE = (9.0, 7.2)
DPI = 100
#: Plot area in figure fractions (left, bottom, width, height); the legend sits to its right.
AXES_RECT = (0.09, 0.09, 0.66, 0.82)
DOT_SIZE = 64  # points^2


@dataclass
class AlbumPoint:
    """An album's mean valence/arousal (0..1)."""

    label: str
    valence: float
    arousal: float


def colour_of(source: str | None) -> str:
    return SOURCE_COLOURS.get(source or "", OTHER_COLOUR)


def draw_map(
    points: list[TrackPoint],
    out: str | Path,
    *,
    albums: list[AlbumPoint] | None = None,
) -> int:
    """Write the map of the analysed ``points`` to the PNG ``out``; returns how many dots it holds.

    The file is written whole or not at all (see :func:`replace_atomically`).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    analysed = [p for p in points if p.analysed]
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes(AXES_RECT)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("valence  (negative → positive)")
    ax.set_ylabel("arousal  (calm → energetic)")
    ax.axvline(0.5, color="0.6", lw=1, ls="--", zorder=1)
    ax.axhline(0.5, color="0.6", lw=1, ls="--", zorder=1)
    for n, (mood, centre) in enumerate(zip(MOODS, QUADRANT_CENTRES)):  # behind the dots, mid-quadrant
        ax.text(*centre, f"Q{n + 1}\n{mood}", ha="center", va="center", fontsize=22,
                color="0.85", zorder=0)
    counts = Counter(p.dominant_source if p.dominant_source in SOURCE_COLOURS else None for p in analysed)
    ax.scatter([p.valence for p in analysed], [p.arousal for p in analysed], s=DOT_SIZE,
               c=[colour_of(p.dominant_source) for p in analysed], edgecolors="white", linewidths=0.8, zorder=3,
               clip_on=False)  # a dot on the border stays whole
    handles = [Line2D([], [], ls="", marker="o", markersize=8, color=colour_of(s), label=f"{s} ({counts[s]})")
               for s in SOURCE_COLOURS if counts[s]]
    if counts[None]:
        handles.append(Line2D([], [], ls="", marker="o", markersize=8, color=OTHER_COLOUR,
                              label=f"mixed ({counts[None]})"))
    if albums:
        ax.scatter([a.valence for a in albums], [a.arousal for a in albums], s=4 * DOT_SIZE, marker="D",
                   facecolors="none", edgecolors="black", linewidths=1.5, zorder=4, clip_on=False)
        for a in albums:
            ax.annotate(a.label, (a.valence, a.arousal), xytext=(8, 6), textcoords="offset points", fontsize=8,
                        zorder=5, annotation_clip=False)
        handles.append(Line2D([], [], ls="", marker="D", markersize=9, markerfacecolor="none",
                              markeredgecolor="black", label=f"album mean ({len(albums)})"))
    if handles:
        fig.legend(handles=handles, title="dominant source", loc="upper left",
                   bbox_to_anchor=(AXES_RECT[0] + AXES_RECT[2] + 0.02, AXES_RECT[1] + AXES_RECT[3]), frameon=False)
    ax.set_title(f"{counted(len(analysed), 'track')} on the valence/arousal plane")
    with replace_atomically(out) as f:
        fig.savefig(f, format="png", dpi=DPI)
    return len(analysed)
