"""``read_track``: one file's checked windows or spans, or its one-line error, never an exception."""

from __future__ import annotations

import numpy as np

from emomucs_core.testing import synth_music, write_audio
from emomucs_core.tracks import read_track


def test_windows_and_spans_of_a_track(tmp_path):
    path = write_audio(tmp_path / "song.flac", synth_music(30, 44100, seed=4), 44100)
    windows = read_track(path, 3, 20.0)
    assert windows.error is None and windows.duration == 30.0 and windows.spans is None
    assert windows.audio.shape == (3, 2, 20 * 44100) and len(windows.starts) == 3
    spans = read_track(path, 3, 20.0, span_rate=22050, hop_seconds=256 / 22050)
    assert spans.audio is None and len(spans.spans) == 1 and spans.window_samples == 20 * 22050
    audio, offsets = spans.spans[0]
    assert audio.shape[0] == 1 and len(offsets) == 3 and offsets[0] == 0
    assert all(o % 256 == 0 for o in offsets)  # moved onto the features' hop
    np.testing.assert_allclose(np.diff(spans.starts), np.diff(windows.starts), atol=256 / 22050)


def test_a_short_track_is_looped_and_said_so(tmp_path):
    path = write_audio(tmp_path / "short.wav", synth_music(8, 44100, seed=5), 44100)
    track = read_track(path, 3, 20.0)
    assert track.error is None and track.audio.shape == (1, 2, 20 * 44100)
    assert any(w.startswith("short track: 8.0 s looped") for w in track.warnings)


def test_a_bad_file_is_an_error_not_an_exception(tmp_path):
    (tmp_path / "noise.mp3").write_bytes(np.random.default_rng(0).bytes(5000))
    track = read_track(tmp_path / "noise.mp3", 3, 20.0)
    assert track.error.startswith("not an audio file") and track.audio is None and track.starts == []
    assert read_track(tmp_path / "missing.wav", 3, 20.0).error == "file not found"
