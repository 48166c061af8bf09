"""Decoding every claimed format, seeking, resampling and window choice."""

from __future__ import annotations

import resource

import numpy as np
import pytest

from emomucs_core import audio as audio_module
from emomucs_core.audio import AudioError, AudioFile
from emomucs_core.windows import Window, choose_windows, loop_to_length, merge_windows, read_window
from emomucs_core.testing import drop_vbr_header, synth_music, write_audio

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
    # by correlation and may lag by their encoder delay (AAC: 1024 samples without an edit list;
    # WMA: FFmpeg's decoder skips the first 2048-sample frame, so a clip read whole runs that much early).
    ref = AudioFile(write_audio(tmp_path / "ref.wav", source, rate)).read(1.0, 4.0)
    max_lag = 0 if ext in LOSSLESS else int(2048 * 44100 / rate) + 100 if ext == ".wma" else 2200
    assert _best_correlation(out[0], ref[0], max_lag=max_lag) > (
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


def test_short_file_is_looped_with_a_crossfade(tmp_path):
    """A track shorter than a window fills it by looping, not zero padding, and the joins do not click."""
    rate, seconds, hz = 44100, 4.37, 441.3  # a non-integer number of periods: a hard cut would jump
    tone = 0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)
    path = write_audio(tmp_path / "short.wav", np.stack([tone, tone], axis=1).astype(np.float32), rate)
    with AudioFile(path) as audio:
        windows = choose_windows(audio, count=3)
        assert len(windows) == 1 and windows[0].duration == 20.0
        assert windows[0].looped and windows[0].audible == pytest.approx(seconds, abs=0.11)
        out = read_window(audio, windows[0])
    assert out.shape == (2, 20 * 44100)
    blocks = out[0].reshape(-1, 4410)  # 0.1-s blocks: none is silent
    assert np.sqrt(np.mean(blocks**2, axis=1)).min() > 0.2  # 0.35 for the tone; a crossfade may dip
    step = 2 * np.pi * hz / 44100 * 0.5  # the largest sample-to-sample change of the tone itself
    assert np.abs(np.diff(out[0])).max() < 1.2 * step
    assert np.allclose(out[0, : len(tone) - 2205], tone[: len(tone) - 2205], atol=1e-4)


def test_loop_to_length_keeps_the_audio_between_joins():
    x = np.arange(1, 101, dtype=np.float32)[None].repeat(2, axis=0)
    out = loop_to_length(x, 250, crossfade=10)
    assert out.shape == (2, 250)
    assert np.array_equal(out[:, :90], x[:, :90]) and np.array_equal(out[:, 100:180], x[:, 10:90])
    assert np.array_equal(loop_to_length(x, 60, crossfade=10), x[:, :60])


@pytest.mark.parametrize("seconds,level", [(0.8, 0.3), (2.5, 0.3), (0.4, 0.01)])
def test_too_short_is_its_own_error_not_silent(tmp_path, seconds, level):
    """Under 3 s of audible signal is refused as too short, even for a loud tone under 1 s."""
    rate = 44100
    tone = level * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)
    silence = np.zeros(rate // 2)
    path = write_audio(tmp_path / "tone.flac", np.concatenate([silence, tone, silence]).astype(np.float32), rate)
    with AudioFile(path) as audio, pytest.raises(AudioError) as info:
        choose_windows(audio)
    assert str(info.value) == f"too short: {seconds:.1f} s of audio, at least 3 s needed"


def test_long_silent_file_is_silent(tmp_path):
    path = write_audio(tmp_path / "silence.flac", np.zeros((8000 * 61, 1), np.float32), 8000)
    with AudioFile(path) as audio, pytest.raises(AudioError, match="^silent: no audible signal"):
        choose_windows(audio)


def _tagged_copies(tmp_path, mp3: bytes) -> list:
    """The same MP3 stream as it is, with a 1.5 MB cover, with a long title, and with our own tags."""
    from mutagen.id3 import APIC, ID3, TIT2, TXXX

    paths = []
    for name, frames in [
        ("plain", []),
        ("cover", [APIC(encoding=3, mime="image/jpeg", type=3, desc="front", data=np.random.default_rng(0).bytes(1_500_000))]),
        ("title", [TIT2(encoding=3, text=["A much longer title " * 20])]),
        ("ours", [TXXX(encoding=3, desc="VALENCE", text=["0.823"]), TXXX(encoding=3, desc="AROUSAL", text=["0.100"])]),
    ]:
        path = tmp_path / f"{name}.mp3"
        path.write_bytes(mp3)
        if frames:
            tags = ID3()
            for frame in frames:
                tags.add(frame)
            tags.save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("kind", ["concatenated", "no VBR header"])
def test_mp3_length_is_decoded_not_guessed_from_the_file_size(tmp_path, kind):
    """Tags and cover art change neither the length nor the audio read for any window."""
    one = write_audio(tmp_path / "one.mp3", synth_music(15, 44100, seed=7), 44100).read_bytes()
    mp3 = one * 4 if kind == "concatenated" else drop_vbr_header(one)  # a stale header, or none
    expected = 60.0 if kind == "concatenated" else 15.0
    reads = []
    for path in _tagged_copies(tmp_path, mp3):
        with AudioFile(path) as audio:
            assert audio.duration == pytest.approx(expected, abs=0.3), path.name  # each copy has its codec delay
            windows = choose_windows(audio, count=3)
            reads.append((windows, np.stack([read_window(audio, w) for w in windows])))
    for windows, data in reads[1:]:
        assert windows == reads[0][0]
        assert np.array_equal(data, reads[0][1])
    assert np.abs(reads[0][1][-1, :, -44100:]).max() > 0.1  # the last window ends in music, not phantom silence


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


@pytest.mark.parametrize("ext", LOSSLESS + LOSSY)
@pytest.mark.parametrize("rate,channels", [(44100, 2), (22050, 1)])
def test_a_clip_is_decoded_once_and_reads_as_by_seeking(tmp_path, monkeypatch, ext, rate, channels):
    """A file up to WHOLE_FILE_SECONDS is decoded once. Its reads are a seek's samples where seeking is
    sample-exact (lossless, MP3); for the other codecs, whose seeks land near the time asked, they
    follow the source at one lag (the encoder's delay), so windows stay where they were placed."""
    rate = _rate_for(ext, rate)
    source = synth_music(12, rate, channels=channels, seed=9)
    path = write_audio(tmp_path / f"clip{ext}", source, rate)
    starts = [0.0, 0.5, 1.7393877551020407, 3.25, 7.9]  # the third: a half-sample start at 22,050 Hz
    with AudioFile(path) as clip:
        calls = []
        decode = clip._backend.read
        monkeypatch.setattr(clip._backend, "read", lambda *a: calls.append(a) or decode(*a))
        from_memory = [clip.read(s, 4.0, clip.samplerate) for s in starts]
        assert clip.read(2.0, 4.0).shape == (2, 4 * 44100)
    assert len(calls) == 1
    if ext not in LOSSLESS + [".mp3"]:
        lags = [_best_lag(got[0], source[int(round(s * rate)):, 0], 2200) for s, got in zip(starts, from_memory)]
        assert max(lags) - min(lags) <= 1  # a half-sample start rounds either way
        return
    monkeypatch.setattr(audio_module, "WHOLE_FILE_SECONDS", 0.0)
    with AudioFile(path) as clip:
        seeking = [clip.read(s, 4.0, clip.samplerate) for s in starts]
    for got, want in zip(from_memory, seeking):
        np.testing.assert_array_equal(got, want)


def _best_lag(x: np.ndarray, ref: np.ndarray, max_lag: int) -> int:
    """The lag (samples) at which ``ref`` best correlates with ``x``, over the middle of ``x``."""
    mid = slice(x.size // 4, 3 * x.size // 4)
    return max(range(-max_lag, max_lag + 1), key=lambda lag: np.dot(x[mid], np.roll(ref[: x.size], lag)[mid]))


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
        ("text.mp3", b"this is not audio at all\n" * 40, "not an audio file"),
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


def test_overlapping_windows_merge_into_spans_on_the_hop_grid():
    step = 512 / 22050
    # A 30-s clip's three 20-s windows overlap: one span; a 4-min track's do not.
    spans = merge_windows([Window(1.7, 20.0, 20.0), Window(5.0, 20.0, 20.0), Window(8.3, 20.0, 20.0)], step)
    assert len(spans) == 1
    (span,) = spans
    assert span.read.start == 1.7 and span.read.duration == pytest.approx(span.offsets[-1] + 20.0)
    for offset, wanted in zip(span.offsets, (0.0, 3.3, 6.6)):
        assert offset / step == pytest.approx(round(offset / step))  # whole hops into the span
        assert abs(offset - wanted) <= step / 2 + 1e-9
    assert [w.start for w in span.windows] == pytest.approx([1.7 + o for o in span.offsets])
    assert span.sample_offsets(44100) == [round(o * 44100) for o in span.offsets]
    apart = merge_windows([Window(10.0, 20.0, 20.0), Window(110.0, 20.0, 20.0), Window(210.0, 20.0, 20.0)], step)
    assert [(s.read.start, s.offsets) for s in apart] == [(10.0, (0.0,)), (110.0, (0.0,)), (210.0, (0.0,))]
    # A short track's looped window stays its own span, read (and looped) as before.
    (looped,) = merge_windows([Window(0.5, 20.0, 8.0)], step)
    assert looped.read == Window(0.5, 20.0, 8.0) and looped.windows == [Window(0.5, 20.0, 8.0)]
