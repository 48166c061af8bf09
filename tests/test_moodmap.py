"""`--map`: the PNG's size, and the dot colours where the tracks are (data coordinates -> pixels)."""

from __future__ import annotations

import numpy as np
import pytest

from beetsplug.emomucs.map_labels import LEADER_AFTER, RINGS, distance, leader, overlaps, place_labels
from beetsplug.emomucs.moodmap import (AXES_RECT, DPI, FIGSIZE, LABEL_GID, LIMITS, MAX_LABEL, OTHER_COLOUR,
                                       SOURCE_COLOURS, WORD_GID, AlbumPoint, draw_map, map_figure, shorten)
from beetsplug.emomucs.points import TrackPoint

WIDTH, HEIGHT = round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI)


def pixel(valence: float, arousal: float) -> tuple[int, int]:
    """(row, column) of a point of the unit plane in the PNG (rows count from the top)."""
    left, bottom, width, height = AXES_RECT
    span = LIMITS[1] - LIMITS[0]
    x = (left + (valence - LIMITS[0]) / span * width) * WIDTH
    y = (bottom + (arousal - LIMITS[0]) / span * height) * HEIGHT
    return int(HEIGHT - y), int(x)


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def read_png(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB")).astype(int)


def colour_near(image: np.ndarray, row: int, col: int, colour: str, radius: int = 1) -> bool:
    patch = image[row - radius: row + radius + 1, col - radius: col + radius + 1].reshape(-1, 3)
    return bool((np.abs(patch - rgb(colour)).max(axis=1) <= 8).any())


TRACKS = [
    TrackPoint("a", valence=0.82, arousal=0.77, dominant_source="vocals"),
    TrackPoint("b", valence=0.15, arousal=0.88, dominant_source="drums"),
    TrackPoint("c", valence=0.30, arousal=0.12, dominant_source="bass"),
    TrackPoint("d", valence=0.66, arousal=0.31, dominant_source="other"),
    TrackPoint("e", valence=0.45, arousal=0.58, dominant_source="mixed"),
]


def test_map_png_has_its_size_and_dots_where_the_tracks_are(tmp_path):
    out = tmp_path / "map.png"
    assert draw_map(TRACKS + [TrackPoint("never analysed")], out) == len(TRACKS)
    image = read_png(out)
    assert image.shape == (HEIGHT, WIDTH, 3)
    for track in TRACKS:
        row, col = pixel(track.valence, track.arousal)
        expected = SOURCE_COLOURS.get(track.dominant_source, OTHER_COLOUR)
        assert colour_near(image, row, col, expected), (track.label, image[row, col])
        # and no other track's colour sits there
        for other in set(SOURCE_COLOURS.values()) - {expected}:
            assert not colour_near(image, row, col, other, radius=2)
    # where there is no track, there is no dot colour
    for valence, arousal in ((0.6, 0.6), (0.2, 0.4), (0.9, 0.1)):
        row, col = pixel(valence, arousal)
        assert not any(colour_near(image, row, col, c, radius=3) for c in SOURCE_COLOURS.values())


def test_map_moves_a_dot_when_its_track_moves(tmp_path):
    """The pixel mapping is the real one: the same track drawn elsewhere shows up elsewhere."""
    first, second = tmp_path / "1.png", tmp_path / "2.png"
    draw_map([TrackPoint("x", valence=0.2, arousal=0.2, dominant_source="drums")], first)
    draw_map([TrackPoint("x", valence=0.7, arousal=0.9, dominant_source="drums")], second)
    a, b = read_png(first), read_png(second)
    assert colour_near(a, *pixel(0.2, 0.2), SOURCE_COLOURS["drums"])
    assert not colour_near(a, *pixel(0.7, 0.9), SOURCE_COLOURS["drums"], radius=3)
    assert colour_near(b, *pixel(0.7, 0.9), SOURCE_COLOURS["drums"])
    assert not colour_near(b, *pixel(0.2, 0.2), SOURCE_COLOURS["drums"], radius=3)


def test_album_means_are_drawn_as_black_outlines(tmp_path):
    out = tmp_path / "albums.png"
    draw_map(TRACKS[:1], out, albums=[AlbumPoint("Album", 0.35, 0.65)])
    image = read_png(out)
    row, col = pixel(0.35, 0.65)
    assert (image[row, col] > 240).all()  # a hollow diamond: the centre stays white ...
    ring = image[row - 12: row + 13, col - 12: col + 13].reshape(-1, 3)
    assert (ring.max(axis=1) < 60).sum() >= 20  # ... inside a black outline


def test_map_into_a_missing_folder_fails_without_leaving_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        draw_map(TRACKS, tmp_path / "no" / "map.png")
    assert list(tmp_path.iterdir()) == []


#: Tracks on every edge and corner of the plane, beside a crowd in the middle.
EDGES = [TrackPoint(f"edge {v} {a}", valence=v, arousal=a, dominant_source="drums")
         for v, a in ((0, 0), (1, 1), (0, 1), (1, 0), (0.5, 1), (0, 0.5), (1, 0.5), (0.5, 0))]
rng = np.random.default_rng(7)
CROWD = [TrackPoint(f"c{i}", valence=float(v), arousal=float(a), dominant_source=s)
         for i, (v, a, s) in enumerate(zip(rng.uniform(0, 1, 40), rng.uniform(0, 1, 40),
                                           rng.choice(list(SOURCE_COLOURS) + ["mixed"], 40)))]
#: Album means close enough for their labels to collide, long names, and albums in the corners by the words.
ALBUMS = [AlbumPoint(f"Album number {i} with a long name that runs on and on", float(v), float(a))
          for i, (v, a) in enumerate(zip(rng.uniform(0.35, 0.5, 10), rng.uniform(0.35, 0.5, 10)))] + [
    AlbumPoint("Top Right Corner Album", 1, 1), AlbumPoint("Q2 corner", 0, 1), AlbumPoint("sad corner", 0, 0),
    AlbumPoint("Bottom right", 1, 0), AlbumPoint("Left Edge", 0, 0.5), AlbumPoint("Right Edge", 1, 0.5)]


def _geometry(fig):
    """(renderer, axes box, label artists, quadrant word artists) of a map figure, laid out as it is saved."""
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    return (renderer, ax.get_window_extent(renderer), [t for t in ax.texts if t.get_gid() == LABEL_GID],
            [t for t in ax.texts if t.get_gid() == WORD_GID])


def test_crowded_album_labels_overlap_nothing_and_stay_inside_the_frame():
    fig = map_figure(EDGES + CROWD, albums=ALBUMS)
    renderer, frame, labels, words = _geometry(fig)
    assert len(labels) == len(ALBUMS) and [w.get_text() for w in words] == ["Q1 happy", "Q2 tense", "Q3 sad", "Q4 calm"]
    boxes = [t.get_window_extent(renderer) for t in labels]
    word_boxes = [w.get_window_extent(renderer) for w in words]
    for n, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, labels[n]
        assert not any(box.overlaps(other) for other in boxes[n + 1:]), labels[n].get_text()
        assert not any(box.overlaps(word) for word in word_boxes), labels[n].get_text()
        assert len(labels[n].get_text()) <= MAX_LABEL
    # the labels sit beside the markers, not on them: no dot's or album's centre lies under a label
    ax = fig.axes[0]
    centres = ax.transData.transform([(p.valence, p.arousal) for p in EDGES + CROWD] +
                                     [(a.valence, a.arousal) for a in ALBUMS])
    assert not any(box.contains(x, y) for box in boxes for x, y in centres)
    # the long names end in an ellipsis; the short ones are whole
    assert labels[0].get_text() == "Album number 0 with a l…" and labels[-1].get_text() == "Right Edge"


def test_points_on_the_edges_are_whole_and_clear_of_the_quadrant_words():
    fig = map_figure(EDGES, albums=[a for a in ALBUMS if a.label[0] not in "A"])
    renderer, frame, _, words = _geometry(fig)
    dots, diamonds = fig.axes[0].collections  # every marker, their size included
    for markers in (dots, diamonds):
        extent = markers.get_window_extent(renderer)
        assert frame.x0 < extent.x0 and extent.x1 < frame.x1 and frame.y0 < extent.y0 and extent.y1 < frame.y1
    # the words lie in the band outside the unit square: beyond every marker at 0 or 1
    corners = fig.axes[0].transData.transform([(0, 0), (1, 1)])
    for word in words:
        box = word.get_window_extent(renderer)
        assert box.y0 > corners[1][1] + 15 or box.y1 < corners[0][1] - 15, word.get_text()


def test_a_crowd_of_labels_on_one_point_is_spread_without_overlaps():
    frame = (0, 0, 600, 600)
    boxes = place_labels([(120, 12)] * 40, [(300, 300, 10)] * 40, frame, keep_clear=[(0, 560, 600, 600)])
    assert len(boxes) == 40
    assert not any(overlaps(a, b) for n, a in enumerate(boxes) for b in boxes[n + 1:])
    assert all(b[0] >= 0 and b[2] <= 600 and b[1] >= 0 and b[3] <= 560 for b in boxes)
    # the first ones take the rings next to the marker, the later ones the free spots further out
    first = boxes[0]
    assert first[0] > 300 and first[1] > 300 and distance(first, (300, 300)) == pytest.approx(10 + RINGS[0])
    assert max(distance(b, (300, 300)) for b in boxes) > 10 + RINGS[-1]  # the grid's spots, beyond the rings


def test_a_label_pushed_away_gets_a_line_from_its_markers_edge_and_a_blocked_ring_is_skipped():
    anchor = (100.0, 100.0, 10.0)
    assert leader((110 + LEADER_AFTER - 1, 95, 200, 105), anchor) is None  # beside the marker: no line
    assert leader((150, 95, 250, 105), anchor) == (110, 100, 150, 100)  # from the marker's edge to the box
    # every spot of the inner rings is blocked: the label lands further out, with its line
    frame, block = (0, 0, 400, 400), [(100 - 60, 100 - 60, 100 + 60, 100 + 60)]
    [box] = place_labels([(50, 10)], [anchor], frame, keep_clear=block)
    assert not overlaps(box, block[0]) and distance(box, anchor[:2]) > 60 and leader(box, anchor) is not None


def test_shorten_cuts_long_labels_with_an_ellipsis():
    assert shorten("Short") == "Short" and shorten("  two   spaces ") == "two spaces"
    assert shorten("x" * 40) == "x" * (MAX_LABEL - 1) + "…" and len(shorten("y" * 100)) == MAX_LABEL


def test_a_crowded_map_png_is_written(tmp_path):
    out = tmp_path / "crowd.png"
    assert draw_map(EDGES + CROWD, out, albums=ALBUMS) == len(EDGES + CROWD)
    image = read_png(out)
    assert image.shape == (HEIGHT, WIDTH, 3)
    for track in EDGES:  # every edge dot is drawn whole: its colour on all four sides of its centre
        row, col = pixel(track.valence, track.arousal)
        for dr, dc in ((-3, 0), (3, 0), (0, -3), (0, 3)):
            assert colour_near(image, row + dr, col + dc, SOURCE_COLOURS["drums"]), track.label
