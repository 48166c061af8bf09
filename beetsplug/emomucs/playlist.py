"""``beet emomucs --playlist FILE.m3u --from MOOD --to MOOD``: a mood-regulation path of tracks.

The rule: ``n`` target points evenly spaced on the straight line from the
centre of the start mood's quadrant to the centre of the end mood's quadrant
(both ends included); for each target in turn, the analysed track nearest to
it (Euclidean distance on the valence/arousal plane) that is not already in
the playlist; ties go to the earlier track in the library's order. The chosen
tracks are then played in order of their progress along the line (their
projection onto the start->end direction), so the path never steps back
towards the start mood: each track's progress is at least the one before it.
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


def progress(point: TrackPoint, start: tuple[float, float], end: tuple[float, float]) -> float:
    """How far ``point`` lies along the line from ``start`` (0) to ``end`` (1): its scalar projection.

    Below 0 behind the start, above 1 past the end; 0 for every point when ``start == end``.
    """
    dv, da = end[0] - start[0], end[1] - start[1]
    length2 = dv * dv + da * da
    if length2 == 0:
        return 0.0
    return ((point.valence - start[0]) * dv + (point.arousal - start[1]) * da) / length2


def mood_path(points: list[TrackPoint], start: str, end: str, n: int = 20) -> list[TrackPoint]:
    """Up to ``n`` analysed tracks leading from mood ``start`` to mood ``end`` (see the module rule).

    Raises ValueError for an unknown mood word.
    """
    a, b = mood_centre(start), mood_centre(end)
    unused = [p for p in points if p.analysed]
    chosen = []
    for v, ar in targets(a, b, min(n, len(unused))):
        best = min(range(len(unused)), key=lambda i: math.hypot(unused[i].valence - v, unused[i].arousal - ar))
        chosen.append(unused.pop(best))
    # Stable: tracks of equal progress (all of them when start == end) keep the order they were chosen in.
    return sorted(chosen, key=lambda p: round(progress(p, a, b), 9))


def write_m3u(out: str | Path, tracks: list[TrackPoint]) -> None:
    """Write an extended M3U: ``#EXTINF:seconds,label`` then the track's absolute path, one per track.

    Paths are written byte for byte as beets stores them; ``out`` is written whole or not at all.
    """
    lines = ["#EXTM3U"]
    for t in tracks:
        lines += [f"#EXTINF:{round(t.length)},{t.label}", t.path]
    with replace_atomically(out) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
