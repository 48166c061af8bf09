"""``beet emomucs --map FILE.html``: the library's mood map as one self-contained interactive page.

The page holds plotly.js (the offline bundle of the ``plotly`` package,
inlined: no network), the tracks as JSON and the small script of
``map_page.html``: a WebGL scatter on the valence/arousal plane (the axes,
quadrant names and mood words of the PNG map), a track table linked to it,
click-to-play, per-source contribution bars and box/lasso selection saved as
an M3U in the format of ``--playlist``. Every track string reaches the page
as JSON data and the DOM as text, never as markup.
"""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path

from emomucs_core.constants import SOURCES

from . import labels
from .moodmap import OTHER_COLOUR, SOURCE_COLOURS, AlbumPoint
from .output import replace_atomically
from .points import QUADRANT_CENTRES, TrackPoint

#: Dot colour per mood word (the "colour by mood" view).
MOOD_COLOURS = {"happy": "#e6a100", "tense": "#d62728", "sad": "#1f5fb4", "calm": "#2ca02c"}
#: Decimals kept for valence, arousal and contributions in the page (the values are unit 0..1).
DECIMALS = 4


def track_record(point: TrackPoint) -> dict:
    """One analysed track as the page's script reads it (valence, arousal, contributions: unit values)."""
    quadrant = labels.quadrant(point.valence, point.arousal)
    return {
        "label": point.label, "artist": point.artist, "title": point.title or point.label, "album": point.album,
        "path": point.path, "url": Path(os.path.abspath(point.path)).as_uri(),
        "seconds": round(point.length),  # as write_m3u rounds it, for the same #EXTINF lines
        "valence": round(point.valence, DECIMALS), "arousal": round(point.arousal, DECIMALS),
        "mood": labels.MOODS[quadrant], "quadrant": f"Q{quadrant + 1}",
        "source": point.dominant_source or "",
        "contributions": {s: [round(c["valence"], DECIMALS), round(c["arousal"], DECIMALS)]
                          for s, c in point.contributions.items()},
    }


def page_data(points: list[TrackPoint], albums: list[AlbumPoint] | None = None) -> dict:
    """Everything the page shows, as JSON-ready data (tracks in the library's order)."""
    analysed = [p for p in points if p.analysed]
    return {
        "tracks": [track_record(p) for p in analysed],
        "albums": [{"label": a.label, "valence": round(a.valence, DECIMALS), "arousal": round(a.arousal, DECIMALS)}
                   for a in albums or []],
        "notAnalysed": len(points) - len(analysed),
        "failed": sum(1 for p in points if not p.analysed and p.error),
        "moods": list(labels.MOODS),
        "quadrantCentres": [list(c) for c in QUADRANT_CENTRES],
        "sources": list(SOURCES),
        "sourceColours": {**SOURCE_COLOURS, "mixed": OTHER_COLOUR},
        "moodColours": MOOD_COLOURS,
    }


def script_json(data: dict) -> str:
    """``data`` as JSON that can sit inside a ``<script>`` element: no ``<``, ``>`` or ``&`` in it.

    Strings keep their non-ASCII characters; JSON escapes stand for the three markup characters.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(points: list[TrackPoint], albums: list[AlbumPoint] | None = None) -> str:
    """The whole HTML page of ``points`` (and album means). Raises ImportError without plotly."""
    from plotly.offline import get_plotlyjs

    template = files(__package__).joinpath("map_page.html").read_text(encoding="utf-8")
    head, rest = template.split("/*PLOTLY_JS*/", 1)
    middle, tail = rest.split("/*DATA_JSON*/", 1)
    return "".join([head, get_plotlyjs(), middle, script_json(page_data(points, albums)), tail])


def write_page(points: list[TrackPoint], out: str | Path, *, albums: list[AlbumPoint] | None = None) -> int:
    """Write the page of the analysed ``points`` to ``out``; returns how many tracks it shows.

    The file is written whole or not at all (see :func:`replace_atomically`). A path that
    is not UTF-8 (surrogate-escaped by beets) reaches the page as JSON ``\\udcXX`` escapes.
    """
    page = render_page(points, albums)
    with replace_atomically(out) as f:
        f.write(page.encode("utf-8", "backslashreplace"))
    return sum(1 for p in points if p.analysed)
