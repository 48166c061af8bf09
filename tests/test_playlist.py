"""`--playlist`: the path rule and the M3U file (end to end with beets in test_view_commands.py)."""

from __future__ import annotations

import math
import random

import pytest

from beetsplug.emomucs.labels import MOODS
from beetsplug.emomucs.playlist import mood_path, progress, targets, write_m3u
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
    # the tracks are those nearest each target in turn, played in order of their progress along the line
    used: list[TrackPoint] = []
    for v, a in targets(mood_centre("sad"), mood_centre("happy"), 10):
        used.append(min((t for t in tracks if t not in used), key=lambda t: math.dist((t.valence, t.arousal), (v, a))))
    assert sorted(t.path for t in path) == sorted(t.path for t in used)
    assert_monotone(path, "sad", "happy")


def assert_monotone(path: list[TrackPoint], start: str, end: str) -> None:
    """Each track's projection onto the start->end direction is at least the one before it."""
    (v0, a0), (v1, a1) = mood_centre(start), mood_centre(end)
    along = [(t.valence - v0) * (v1 - v0) + (t.arousal - a0) * (a1 - a0) for t in path]
    assert all(later >= earlier - 1e-9 for earlier, later in zip(along, along[1:])), along


def test_progress_is_the_projection_onto_the_line():
    sad, happy = mood_centre("sad"), mood_centre("happy")
    assert progress(TrackPoint("s", valence=0.25, arousal=0.25), sad, happy) == pytest.approx(0)
    assert progress(TrackPoint("h", valence=0.75, arousal=0.75), sad, happy) == pytest.approx(1)
    assert progress(TrackPoint("across", valence=0.25, arousal=0.75), sad, happy) == pytest.approx(0.5)
    assert progress(TrackPoint("behind", valence=0.0, arousal=0.0), sad, happy) == pytest.approx(-0.5)
    assert progress(TrackPoint("any", valence=0.9, arousal=0.1), sad, sad) == 0


@pytest.mark.parametrize("seed", range(20))
def test_path_never_steps_back_on_random_libraries(seed):
    """Sparse, uneven libraries (where nearest-to-target alone stepped back): monotone for every mood pair."""
    rng = random.Random(seed)
    tracks = [TrackPoint(f"t{i}", path=f"/m/{i}.mp3", valence=rng.random() ** rng.choice((0.5, 1, 2)),
                         arousal=rng.random()) for i in range(rng.randint(2, 40))]
    for start in MOODS:
        for end in MOODS:
            path = mood_path(tracks, start, end, rng.randint(2, 25))
            assert len({t.path for t in path}) == len(path)
            assert_monotone(path, start, end)


def test_same_start_and_end_keeps_the_nearest_first():
    tracks = [TrackPoint(f"t{i}", path=f"/m/{i}.mp3", valence=v, arousal=0.25) for i, v in enumerate((0.6, 0.3, 0.45))]
    assert [t.label for t in mood_path(tracks, "sad", "sad", 3)] == ["t1", "t2", "t0"]


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
