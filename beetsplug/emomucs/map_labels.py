"""Where the map's album labels go: beside their marker, clear of each other, the frame and the quadrant words.

Plain geometry in display pixels (no matplotlib), one greedy rule: each label in turn
takes, of the spots on rings around its marker, the one that overlaps no placed label,
no quadrant word and stays inside the frame (hard), covering the fewest dots and album
markers, then crossing the fewest leader lines, labels and markers with its own line (soft),
nearest first. When no ring spot is free, the nearest free spot of a grid
over the whole frame is taken (the label then gets a leader line). adjustText 1.4.0 was
tried first: it kept labels apart but left them on the markers (32 label/marker overlaps with
15 albums, 12 of them in a 0.2-wide square, among 45 dots), and its iterations give no guarantee.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: A box in display pixels: (x0, y0, x1, y1), y upwards.
Box = tuple[float, float, float, float]
#: A line from (x0, y0) to (x1, y1), in display pixels.
Segment = tuple[float, float, float, float]

#: Gaps (pixels) between a marker's edge and its label, ring by ring.
RINGS = (3.0, 12.0, 24.0, 40.0, 60.0, 85.0, 115.0, 150.0)
#: Directions tried on each ring, in order of preference: upper right first, as a reader expects.
ANGLES = tuple(math.radians(a) for a in (30, -30, 150, -150, 0, 180, 90, -90, 60, 120, -60, -120))
#: Grid step (pixels) of the fallback search over the frame.
GRID = 6.0
#: Space (pixels) kept between a label and anything it must not touch.
MARGIN = 2.0
#: A label further than this from its marker's edge gets a leader line.
LEADER_AFTER = 16.0


def overlaps(a: Box, b: Box, margin: float = 0.0) -> bool:
    """Whether boxes ``a`` and ``b`` overlap, or come closer than ``margin``."""
    return a[0] < b[2] + margin and b[0] < a[2] + margin and a[1] < b[3] + margin and b[1] < a[3] + margin


def inside(a: Box, frame: Box, margin: float = 0.0) -> bool:
    """Whether box ``a`` lies within ``frame``, ``margin`` pixels from its edges."""
    return a[0] >= frame[0] + margin and a[1] >= frame[1] + margin and a[2] <= frame[2] - margin \
        and a[3] <= frame[3] - margin


def place_labels(
    sizes: Sequence[tuple[float, float]],
    anchors: Sequence[tuple[float, float, float]],
    frame: Box,
    keep_clear: Sequence[Box] = (),
    markers: Sequence[Box] = (),
) -> list[Box]:
    """A box for each label: ``sizes[i]`` (width, height) beside ``anchors[i]`` (x, y, marker radius).

    ``keep_clear``: boxes no label may touch (the quadrant words); ``markers``: boxes a label
    should not cover (dots and album markers). Labels are placed in order; each one's box is
    clear of the earlier ones, of ``keep_clear`` and of the frame's edges whenever the frame
    has room for it.
    """
    marks = np.asarray(markers, dtype=float).reshape(-1, 4)
    hard = np.asarray(keep_clear, dtype=float).reshape(-1, 4)
    placed: list[Box] = []
    lines: list[Segment] = []  # the leader lines drawn so far
    for (width, height), anchor in zip(sizes, anchors):
        x, y, radius = anchor
        reach = radius + RINGS[-1] + width + height  # nothing further away can touch a ring spot
        near = _within(marks, x, y, reach)
        blockers = _within(hard, x, y, reach)
        best, best_cost = None, None
        for ring, gap in enumerate(RINGS):
            for turn, angle in enumerate(ANGLES):
                box = _beside(x, y, radius + gap, angle, width, height)
                if not inside(box, frame, MARGIN) or _hits(blockers, box, MARGIN).any():
                    continue
                line = leader(box, anchor)
                crossed = _crossings(box, line, placed, lines) + (int(_line_hits(near, line).sum()) if line else 0)
                cost = (int(_hits(near, box).sum()), crossed, ring, turn)  # covering a marker is the worst
                if best_cost is None or cost < best_cost:
                    best, best_cost = box, cost
            if best_cost is not None and best_cost[:2] == (0, 0):
                break  # a spot that covers and crosses nothing: no need to look further out
        box = best or _nearest_free(x, y, width, height, frame, hard) \
            or _beside(x, y, radius + RINGS[0], ANGLES[0], width, height)
        placed.append(box)
        hard = np.vstack([hard, np.asarray(box, dtype=float)[None]])
        line = leader(box, anchor)
        if line:
            lines.append(line)
    return placed


def leader(box: Box, anchor: tuple[float, float, float]) -> Segment | None:
    """The line from the marker's edge to the nearest point of its label ``box``, when the label lies far
    enough away to need one (more than :data:`LEADER_AFTER` pixels beyond the marker's edge)."""
    x, y, radius = anchor
    near = (min(max(x, box[0]), box[2]), min(max(y, box[1]), box[3]))
    length = math.hypot(near[0] - x, near[1] - y)
    if length <= radius + LEADER_AFTER:
        return None
    return (x + radius * (near[0] - x) / length, y + radius * (near[1] - y) / length, *near)


def distance(box: Box, point: tuple[float, float]) -> float:
    """Pixels from ``point`` to the nearest point of ``box`` (0 inside it)."""
    dx = max(box[0] - point[0], 0.0, point[0] - box[2])
    dy = max(box[1] - point[1], 0.0, point[1] - box[3])
    return math.hypot(dx, dy)


def _beside(x: float, y: float, reach: float, angle: float, width: float, height: float) -> Box:
    """The box whose side nearest the marker touches the point ``reach`` pixels from it at ``angle``."""
    px, py = x + reach * math.cos(angle), y + reach * math.sin(angle)
    cos, sin = math.cos(angle), math.sin(angle)
    x0 = px if cos > 0.3 else px - width if cos < -0.3 else px - width / 2
    y0 = py if sin > 0.3 else py - height if sin < -0.3 else py - height / 2
    return (x0, y0, x0 + width, y0 + height)


def _nearest_free(x: float, y: float, width: float, height: float, frame: Box, hard: np.ndarray) -> Box | None:
    """The free spot of a grid over ``frame`` nearest the anchor, or ``None`` when the frame is full."""
    x0 = np.arange(frame[0] + MARGIN, frame[2] - MARGIN - width + 1e-9, GRID)
    y0 = np.arange(frame[1] + MARGIN, frame[3] - MARGIN - height + 1e-9, GRID)
    if not len(x0) or not len(y0):
        return None
    gx, gy = (g.ravel() for g in np.meshgrid(x0, y0))
    spots = np.stack([gx, gy, gx + width, gy + height], axis=1)
    dx = np.maximum.reduce([spots[:, 0] - x, np.zeros(len(spots)), x - spots[:, 2]])
    dy = np.maximum.reduce([spots[:, 1] - y, np.zeros(len(spots)), y - spots[:, 3]])
    spots = spots[np.argsort(np.hypot(dx, dy), kind="stable")]
    for start in range(0, len(spots), 512):  # nearest first, a block at a time
        block = spots[start:start + 512]
        free = ~_hits(hard, block.T[:, :, None], MARGIN).any(axis=1)  # (spots, hard boxes) at once
        if free.any():
            return tuple(float(v) for v in block[int(np.argmax(free))])
    return None


def _crossings(box: Box, line: Segment | None, boxes: Sequence[Box], lines: Sequence[Segment]) -> int:
    """How many of the earlier leader ``lines`` cross ``box``, and earlier labels and lines its own ``line`` crosses."""
    count = sum(bool(_line_hits(np.asarray([box], dtype=float), other)[0]) for other in lines)
    if line:
        count += int(_line_hits(np.asarray(boxes, dtype=float).reshape(-1, 4), line).sum())
        count += sum(_crosses(line, other) for other in lines)
    return count


def _line_hits(boxes: np.ndarray, line: Segment) -> np.ndarray:
    """Which rows of ``boxes`` ``(n, 4)`` the segment ``line`` passes through (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = line
    low, high = np.zeros(len(boxes)), np.ones(len(boxes))
    keep = np.ones(len(boxes), dtype=bool)
    for p, q in ((x0 - x1, x0 - boxes[:, 0]), (x1 - x0, boxes[:, 2] - x0),
                 (y0 - y1, y0 - boxes[:, 1]), (y1 - y0, boxes[:, 3] - y0)):
        if p == 0:
            keep &= q >= 0
        elif p < 0:
            low = np.maximum(low, q / p)
        else:
            high = np.minimum(high, q / p)
    return keep & (low <= high)


def _crosses(a: Segment, b: Segment) -> bool:
    """Whether segments ``a`` and ``b`` cross (touching at an end does not count)."""
    def side(px, py, qx, qy, rx, ry):
        return (qx - px) * (ry - py) - (qy - py) * (rx - px)

    d1, d2 = side(*b[:2], *b[2:], *a[:2]), side(*b[:2], *b[2:], *a[2:])
    d3, d4 = side(*a[:2], *a[2:], *b[:2]), side(*a[:2], *a[2:], *b[2:])
    return d1 * d2 < 0 and d3 * d4 < 0


def _within(boxes: np.ndarray, x: float, y: float, reach: float) -> np.ndarray:
    """The rows of ``boxes`` that come within ``reach`` pixels of (x, y) on both axes."""
    keep = (boxes[:, 0] < x + reach) & (boxes[:, 2] > x - reach) & (boxes[:, 1] < y + reach) & (boxes[:, 3] > y - reach)
    return boxes[keep]


def _hits(boxes: np.ndarray, box, margin: float = 0.0) -> np.ndarray:
    """Which rows of ``boxes`` :func:`overlap <overlaps>` ``box`` (its four coordinates may be arrays that
    broadcast against the rows, to test many boxes at once)."""
    return (boxes[:, 0] < box[2] + margin) & (box[0] < boxes[:, 2] + margin) \
        & (boxes[:, 1] < box[3] + margin) & (box[1] < boxes[:, 3] + margin)
