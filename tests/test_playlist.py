"""`--playlist`: the path rule and the M3U file (end to end with beets in test_view_commands.py)."""

from __future__ import annotations

import math

import pytest

from beetsplug.emomucs.playlist import mood_path, targets, write_m3u
from beetsplug.emomucs.points import TrackPoint, mood_centre


def grid(step: float = 0.1) -> list[TrackPoint]:
    """Tracks on a regular grid over the plane (one every ``step``)."""
    n = round(1 / step)
    return [TrackPoint(f"t{i}-{j}", path=f"/m/{i}-{j}.flac", valence=(i + 0.5) * step, arousal=(j + 0.5) * step)
            for i in range(n) for j in range(n)]


def test_targets_are_evenly_spaced_and_include_both_ends():
    points = targets((0.25, 0.25), (0.75, 0.75), 5)
    assert points[0] == (0.25, 0.25) and points[-1] == (0.75, 0.75)
    steps = [math.dist(a, b) for a, b in zip(points, points[1:])]
    assert steps == pytest.approx([math.dist((0.25, 0.25), (0.75, 0.75)) / 4] * 4)
    assert targets((0.1, 0.2), (0.9, 0.9), 1) == [(0.1, 0.2)]


def test_path_moves_from_sad_to_happy_in_small_steps():
    tracks = grid()
    path = mood_path(tracks, "sad", "happy", 10)
    assert len(path) == 10 and len({t.path for t in path}) == 10
    assert (path[0].valence, path[0].arousal) == pytest.approx((0.25, 0.25), abs=0.051)
    assert (path[-1].valence, path[-1].arousal) == pytest.approx((0.75, 0.75), abs=0.051)
    steps = [math.dist((a.valence, a.arousal), (b.valence, b.arousal)) for a, b in zip(path, path[1:])]
    assert max(steps) < 0.15  # each step a small move on a 0.1 grid
    # every chosen track is the nearest unused one to its target
    used: set[str] = set()
    for track, (v, a) in zip(path, targets(mood_centre("sad"), mood_centre("happy"), 10)):
        nearest = min(math.dist((t.valence, t.arousal), (v, a)) for t in tracks if t.path not in used)
        assert math.dist((track.valence, track.arousal), (v, a)) == pytest.approx(nearest)
        used.add(track.path)


def test_path_skips_unanalysed_tracks_and_is_capped_by_what_exists():
    tracks = [TrackPoint("none", path="/m/x.mp3"), TrackPoint("a", path="/m/a.mp3", valence=0.2, arousal=0.8),
              TrackPoint("b", path="/m/b.mp3", valence=0.8, arousal=0.2)]
    path = mood_path(tracks, "tense", "calm", 20)
    assert [t.label for t in path] == ["a", "b"]
    assert mood_path(tracks, "Q2", "CALM", 1)[0].label == "a"
    with pytest.raises(ValueError, match="unknown mood 'angry'"):
        mood_path(tracks, "angry", "calm")


def test_m3u_holds_absolute_paths_with_extinf(tmp_path):
    tracks = [TrackPoint("Band - Sad Song", path="/music/sad é.flac", valence=0.2, arousal=0.2, length=183.4),
              TrackPoint("Band - Happy", path="/music/\udcffraw.mp3", valence=0.8, arousal=0.8, length=61.6)]
    out = tmp_path / "mood.m3u"
    write_m3u(out, tracks)
    assert out.read_bytes().split(b"\n") == [
        b"#EXTM3U", b"#EXTINF:183,Band - Sad Song", "/music/sad é.flac".encode(),
        b"#EXTINF:62,Band - Happy", b"/music/\xffraw.mp3", b""]
    assert [p.name for p in tmp_path.iterdir()] == ["mood.m3u"]  # no temporary file left
