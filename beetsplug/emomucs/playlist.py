"""``beet emomucs --playlist FILE.m3u --from MOOD --to MOOD``: a mood-regulation path of tracks.

The rule: ``n`` target points evenly spaced on the straight line from the
centre of the start mood's quadrant to the centre of the end mood's quadrant
(both ends included); for each target in turn, the analysed track nearest to
it (Euclidean distance on the valence/arousal plane) that is not already in
the playlist. Ties go to the earlier track in the library's order.
"""

from __future__ import annotations

import math
from pathlib import Path

from .output import replace_atomically
from .points import TrackPoint, mood_centre


def targets(start: tuple[float, float], end: tuple[float, float], n: int) -> list[tuple[float, float]]:
    """``n`` points evenly spaced from ``start`` to ``end`` (both included; one point: ``start``)."""
    if n <= 1:
        return [start][:n]
    return [(start[0] + (end[0] - start[0]) * k / (n - 1), start[1] + (end[1] - start[1]) * k / (n - 1))
            for k in range(n)]


def mood_path(points: list[TrackPoint], start: str, end: str, n: int = 20) -> list[TrackPoint]:
    """Up to ``n`` analysed tracks leading from mood ``start`` to mood ``end`` (see the module rule).

    Raises ValueError for an unknown mood word.
    """
    a, b = mood_centre(start), mood_centre(end)
    unused = [p for p in points if p.analysed]
    path = []
    for v, ar in targets(a, b, min(n, len(unused))):
        best = min(range(len(unused)), key=lambda i: math.hypot(unused[i].valence - v, unused[i].arousal - ar))
        path.append(unused.pop(best))
    return path


def write_m3u(out: str | Path, tracks: list[TrackPoint]) -> None:
    """Write an extended M3U: ``#EXTINF:seconds,label`` then the track's absolute path, one per track.

    Paths are written byte for byte as beets stores them; ``out`` is written whole or not at all.
    """
    lines = ["#EXTM3U"]
    for t in tracks:
        lines += [f"#EXTINF:{round(t.length)},{t.label}", t.path]
    with replace_atomically(out) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
