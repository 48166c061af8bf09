"""Decoding every claimed format, seeking, resampling and window choice."""

from __future__ import annotations

import resource

import numpy as np
import pytest

from emomucs_core.audio import AudioError, AudioFile, choose_windows
from emomucs_core.testing import synth_music, write_audio

LOSSLESS = [".wav", ".flac", ".aiff"]
LOSSY = [".mp3", ".ogg", ".opus", ".m4a", ".wma"]


def _rate_for(ext: str, rate: int) -> int:
    return 48000 if ext == ".opus" else rate


@pytest.mark.parametrize("ext", LOSSLESS + LOSSY)
@pytest.mark.parametrize("rate,channels", [(44100, 2), (22050, 1), (32000, 2), (48000, 1)])
def test_decodes_every_format(tmp_path, ext, rate, channels):
    rate = _rate_for(ext, rate)
    source = synth_music(6, rate, channels=channels, seed=4)
    path = write_audio(tmp_path / f"x{ext}", source, rate)
    with AudioFile(path) as audio:
        assert audio.samplerate == rate
        assert audio.channels == channels
        assert audio.duration == pytest.approx(6.0, abs=0.15)
        out = audio.read(1.0, 4.0)
    assert out.shape == (2, 4 * 44100) and out.dtype == np.float32
    # The decoded middle matches the source, resampled to 44.1 kHz. Lossy codecs are compared
    # by correlation and may lag by their encoder delay (AAC: 1024 samples without an edit list).
    ref = AudioFile(write_audio(tmp_path / "ref.wav", source, rate)).read(1.0, 4.0)
    assert _best_correlation(out[0], ref[0], max_lag=0 if ext in LOSSLESS else 2200) > (
        0.999 if ext in LOSSLESS else 0.8
    )


def _best_correlation(x: np.ndarray, ref: np.ndarray, max_lag: int) -> float:
    mid = slice(44100, 3 * 44100)
    lags = range(-max_lag, max_lag + 1, 8) if max_lag else [0]
    return max(np.corrcoef(x[mid], np.roll(ref, lag)[mid])[0, 1] for lag in lags)


def test_alac_in_m4a(tmp_path):
    path = write_audio(tmp_path / "x.m4a", synth_music(5, 44100), 44100, codec="alac")
    out = AudioFile(path).read(0, 5)
    ref = synth_music(5, 44100)[:, 0]
    assert np.max(np.abs(out[0] - ref)) < 1e-3


def test_short_file_is_zero_padded(tmp_path):
    path = write_audio(tmp_path / "short.wav", synth_music(3, 44100), 44100)
    with AudioFile(path) as audio:
        windows = choose_windows(audio, count=3)
        assert len(windows) == 1 and windows[0].duration == 20.0
        out = audio.read(windows[0].start, 20.0)
    assert np.abs(out[:, : 2 * 44100]).max() > 0.1
    assert np.all(out[:, 4 * 44100 :] == 0)


def test_windows_spread_and_skip_silent_edges(tmp_path):
    rate = 22050
    music = synth_music(120, rate, seed=5)
    silence = np.zeros((10 * rate, 2), np.float32)
    path = write_audio(tmp_path / "long.flac", np.concatenate([silence, music, silence]), rate)
    with AudioFile(path) as audio:
        assert audio.duration == pytest.approx(140, abs=0.01)
        windows = choose_windows(audio, count=3)
    starts = [w.start for w in windows]
    assert len(windows) == 3 and starts == sorted(starts)
    assert starts[0] >= 10 and starts[-1] + 20 <= 130  # inside the audible part
    assert min(np.diff(starts)) > 20  # distinct windows on a long track


def test_long_file_is_not_loaded_whole(tmp_path):
    """A 60-minute file is read window by window: memory stays far below its decoded size."""
    rate = 22050
    path = tmp_path / "hour.flac"
    import soundfile as sf

    minute = synth_music(60, rate, channels=1, seed=6)[:, 0]
    with sf.SoundFile(path, "w", rate, 1, format="FLAC") as f:
        for _ in range(60):
            f.write(minute)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    with AudioFile(path) as audio:
        assert audio.duration == pytest.approx(3600, abs=0.1)
        windows = choose_windows(audio, count=3)
        data = [audio.read(w.start, w.duration) for w in windows]
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    whole_mib = 3600 * 44100 * 2 * 4 / 2**20  # the whole track at 44.1 kHz stereo float32
    assert len(data) == 3 and windows[-1].start > 2400
    assert grown_mib < whole_mib / 10


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("empty.mp3", b"", "empty file"),
        ("text.mp3", b"this is not audio at all\n" * 40, "not a readable audio file"),
        ("missing.wav", None, "not found"),
    ],
)
def test_bad_files_raise_one_line_reasons(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=reason) as info:
        AudioFile(path)
    assert "\n" not in str(info.value)


def test_truncated_file_decodes_what_is_there(tmp_path):
    full = write_audio(tmp_path / "full.mp3", synth_music(20, 44100), 44100).read_bytes()
    path = tmp_path / "cut.mp3"
    path.write_bytes(full[: len(full) // 3])
    with AudioFile(path) as audio:
        out = audio.read(0, 20)
    assert np.abs(out[:, : 3 * 44100]).max() > 0.05  # the part that exists
    assert np.all(np.isfinite(out))


def test_silent_file_is_a_clear_error(tmp_path):
    path = write_audio(tmp_path / "silence.wav", np.zeros((44100 * 5, 2), np.float32), 44100)
    with AudioFile(path) as audio, pytest.raises(AudioError, match="silent"):
        choose_windows(audio)
