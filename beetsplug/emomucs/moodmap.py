"""``beet emomucs --map FILE.png``: the library on the valence/arousal plane (the paper's Fig. 3).

One dot per analysed track, coloured by its dominant source; optional album
means, each labelled beside its marker without covering another label, the
frame or a quadrant word (:mod:`.map_labels`); the quadrant words in the
plane's outer corners, in a band outside the unit square where no point falls. Drawn with matplotlib's Agg
canvas (no display, no pyplot state), imported only when a map is drawn.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .output import counted, replace_atomically
from .labels import MOODS
from .points import TrackPoint

#: Dot colour per dominant source (matplotlib's tab10 colours); any other value is grey.
SOURCE_COLOURS = {"vocals": "#d62728", "drums": "#1f77b4", "bass": "#2ca02c", "other": "#ff7f0e"}
OTHER_COLOUR = "#7f7f7f"
#: Figure size (inches) and resolution: the PNG is 900 x 720 pixels.
FIGSIZE = (9.0, 7.2)
DPI = 100
#: Plot area in figure fractions (left, bottom, width, height); the legend sits to its right.
AXES_RECT = (0.09, 0.09, 0.66, 0.82)
#: The plane is drawn from -PAD to 1 + PAD on both axes: a dot or album marker at 0 or 1 stays whole,
#: and the bands outside the unit square hold the quadrant words, where no point can be.
PAD = 0.07
LIMITS = (-PAD, 1 + PAD)
DOT_SIZE = 64  # points^2
ALBUM_SIZE = 4 * DOT_SIZE
#: Album labels longer than this many characters end in an ellipsis.
MAX_LABEL = 24
LABEL_FONTSIZE = 8
#: ``gid`` of the album label and quadrant word artists (tests find them by it).
LABEL_GID, WORD_GID = "album-label", "quadrant-word"


@dataclass
class AlbumPoint:
    """An album's mean valence/arousal (0..1)."""

    label: str
    valence: float
    arousal: float


def colour_of(source: str | None) -> str:
    return SOURCE_COLOURS.get(source or "", OTHER_COLOUR)


def shorten(label: str, limit: int = MAX_LABEL) -> str:
    """``label``, cut to ``limit`` characters with an ellipsis when longer."""
    label = " ".join(label.split())
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def draw_map(
    points: list[TrackPoint],
    out: str | Path,
    *,
    albums: list[AlbumPoint] | None = None,
) -> int:
    """Write the map of the analysed ``points`` to the PNG ``out``; returns how many dots it holds.

    The file is written whole or not at all (see :func:`replace_atomically`).
    """
    fig = map_figure(points, albums=albums)
    with replace_atomically(out) as f:
        fig.savefig(f, format="png", dpi=DPI)
    return sum(p.analysed for p in points)


def map_figure(points: list[TrackPoint], *, albums: list[AlbumPoint] | None = None):
    """The map as a matplotlib ``Figure`` on an Agg canvas, its album labels laid out (:mod:`.map_labels`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    analysed = [p for p in points if p.analysed]
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes(AXES_RECT)
    ax.set_xlim(*LIMITS)
    ax.set_ylim(*LIMITS)
    ticks = [0, 0.25, 0.5, 0.75, 1]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlabel("valence  (negative → positive)")
    ax.set_ylabel("arousal  (calm → energetic)")
    ax.axvline(0.5, color="0.6", lw=1, ls="--", zorder=1)
    ax.axhline(0.5, color="0.6", lw=1, ls="--", zorder=1)
    for edge in (0, 1):  # the unit square's edges, faint: where the bands of the quadrant words begin
        ax.axvline(edge, color="0.9", lw=0.8, zorder=0)
        ax.axhline(edge, color="0.9", lw=0.8, zorder=0)
    words = [_quadrant_word(ax, n, mood) for n, mood in enumerate(MOODS)]
    counts = Counter(p.dominant_source if p.dominant_source in SOURCE_COLOURS else None for p in analysed)
    ax.scatter([p.valence for p in analysed], [p.arousal for p in analysed], s=DOT_SIZE,
               c=[colour_of(p.dominant_source) for p in analysed], edgecolors="white", linewidths=0.8, zorder=3)
    handles = [Line2D([], [], ls="", marker="o", markersize=8, color=colour_of(s), label=f"{s} ({counts[s]})")
               for s in SOURCE_COLOURS if counts[s]]
    if counts[None]:
        handles.append(Line2D([], [], ls="", marker="o", markersize=8, color=OTHER_COLOUR,
                              label=f"mixed ({counts[None]})"))
    if albums:
        ax.scatter([a.valence for a in albums], [a.arousal for a in albums], s=ALBUM_SIZE, marker="D",
                   facecolors="none", edgecolors="black", linewidths=1.5, zorder=4)
        _album_labels(ax, analysed, albums, words)
        handles.append(Line2D([], [], ls="", marker="D", markersize=9, markerfacecolor="none",
                              markeredgecolor="black", label=f"album mean ({len(albums)})"))
    if handles:
        fig.legend(handles=handles, title="dominant source", loc="upper left",
                   bbox_to_anchor=(AXES_RECT[0] + AXES_RECT[2] + 0.02, AXES_RECT[1] + AXES_RECT[3]), frameon=False)
    ax.set_title(f"{counted(len(analysed), 'track')} on the valence/arousal plane")
    return fig


def _quadrant_word(ax, n: int, mood: str):
    """``Q1 happy`` in its quadrant's outer corner, in the band outside the unit square."""
    right, top = n in (0, 3), n in (0, 1)
    inset = PAD / 8
    return ax.text(LIMITS[1] - inset if right else LIMITS[0] + inset, LIMITS[1] - inset if top else LIMITS[0] + inset,
                   f"Q{n + 1} {mood}", ha="right" if right else "left", va="top" if top else "bottom",
                   fontsize=11, color="0.55", zorder=0, gid=WORD_GID)


def _half_width(fig, marker: str, size: float, edge: float) -> float:
    """Half the width in pixels of a scatter ``marker`` of ``size`` points², its edge line included."""
    from matplotlib.markers import MarkerStyle

    style = MarkerStyle(marker)
    half = style.get_path().transformed(style.get_transform()).get_extents().x1  # 0.5 for "o", 0.71 for "D"
    return (half * size ** 0.5 + edge / 2) * fig.dpi / 72


def _album_labels(ax, tracks: list[TrackPoint], albums: list[AlbumPoint], words) -> None:
    """Each album's (shortened) label beside its marker, laid out by :func:`.map_labels.place_labels`."""
    from .map_labels import leader, place_labels

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    dot_r, album_r = _half_width(fig, "o", DOT_SIZE, 0.8), _half_width(fig, "D", ALBUM_SIZE, 1.5)
    texts = [ax.text(0, 0, shorten(a.label), fontsize=LABEL_FONTSIZE, ha="left", va="bottom", zorder=5,
                     gid=LABEL_GID) for a in albums]
    sizes = [(e.width, e.height) for e in (t.get_window_extent(renderer) for t in texts)]
    anchors = [(*to_px((a.valence, a.arousal)), album_r) for a in albums]
    markers = [(x - r, y - r, x + r, y + r) for r, centres in
               ((dot_r, [to_px((p.valence, p.arousal)) for p in tracks]), (album_r, [a[:2] for a in anchors]))
               for x, y in centres]
    frame = tuple(ax.get_window_extent(renderer).extents)
    clear = [tuple(w.get_window_extent(renderer).extents) for w in words]
    from_px = ax.transData.inverted().transform
    for text, box, anchor in zip(texts, place_labels(sizes, anchors, frame, clear, markers), anchors):
        text.set_position(from_px((box[0], box[1])))
        line = leader(box, anchor)
        if line:
            ax.plot(*zip(from_px(line[:2]), from_px(line[2:])), color="0.45", lw=0.6, zorder=4.5)
