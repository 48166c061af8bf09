"""`--map`: the PNG's size, and the dot colours where the tracks are (data coordinates -> pixels)."""

from __future__ import annotations

import numpy as np
import pytest

from beetsplug.emomucs.moodmap import AXES_RECT, DPI, FIGSIZE, OTHER_COLOUR, SOURCE_COLOURS, AlbumPoint, draw_map
from beetsplug.emomucs.points import TrackPoint

WIDTH, HEIGHT = round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI)


def pixel(valence: float, arousal: float) -> tuple[int, int]:
    """(row, column) of a point of the unit plane in the PNG (rows count from the top)."""
    left, bottom, width, height = AXES_RECT
    x = (left + valence * width) * WIDTH
    y = (bottom + arousal * height) * HEIGHT
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
