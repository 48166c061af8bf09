"""Decode audio files of any common format, measure their true length and choose the analysis windows.

Long files are never read whole: :class:`AudioFile` seeks to each window, so memory
stays flat whatever the length of the track; a file of at most ``WHOLE_FILE_SECONDS``
(a clip, whose windows and edge probes cover most of it anyway) is decoded once and
read from memory. libsndfile (via ``soundfile``)
reads WAV, AIFF, FLAC, Ogg Vorbis and Opus, whose headers state the length
exactly (checked by reading the end); everything else (MP3, M4A/AAC, ALAC,
WMA, ...) goes through PyAV, which bundles FFmpeg, and its length is counted
from the demuxed packets (no decoding), because MP3 headers often state no
length, or a wrong one, and a length estimated from the file size counts tags
and cover art as audio.

Rules (docs/architecture.md):

- windows are placed over the audible part (edges below ``SILENCE_DB`` skipped)
  of the *decoded* length;
- a track with less than ``MIN_AUDIBLE_SECONDS`` of audible signal is refused
  ("too short"); one shorter than a window is looped, with a short crossfade, to
  fill it (:func:`read_window`), so the model sees music, not zero padding;
- windows whose level is below ``SILENCE_DB`` are silent (:func:`window_level_db`).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soxr

from .constants import SEPARATION_RATE, WINDOW_SECONDS

log = logging.getLogger(__name__)

#: Files longer than this (seconds) are refused as "huge" (24 hours).
MAX_DURATION = 24 * 3600.0
#: A 0.1-s block (at the edges) or a whole window quieter than this (dBFS, RMS) is silence.
SILENCE_DB = -50.0
#: Below this level (dBFS, RMS) audio is silent; between it and ``SILENCE_DB`` it is "too quiet to analyse".
DIGITAL_SILENCE_DB = -120.0
#: Tracks with less audible signal than this (seconds) are refused as "too short".
MIN_AUDIBLE_SECONDS = 3.0
#: Crossfade (seconds) where a short track is looped to fill a window.
CROSSFADE_SECONDS = 0.05
#: Resolution (seconds) of the edge-silence search.
_BLOCK_SECONDS = 0.1
#: PyAV reads of MP3 start decoding this many seconds before a window (the decoder's warm-up is discarded).
_PREROLL_SECONDS = 0.5
#: Files up to this long (seconds) and :data:`_WHOLE_FILE_BYTES` decoded are decoded once, at the first read.
WHOLE_FILE_SECONDS = 60.0
_WHOLE_FILE_BYTES = 32 << 20
#: A header-stated length longer than the decodable audio by this much (seconds) marks a truncated file.
_TRUNCATION_SLACK = 1.0


class AudioError(Exception):
    """A file that cannot be analysed; the message says why in one line."""


@dataclass(frozen=True)
class Window:
    """One analysis window of a track, in seconds.

    ``start``: where it begins; ``duration``: the model window it fills;
    ``audible``: seconds of the track it holds (less than ``duration`` for a
    track shorter than a window, which :func:`read_window` loops to fill it).
    """

    start: float
    duration: float
    audible: float | None = None

    @property
    def looped(self) -> bool:
        return self.audible is not None and self.audible < self.duration

    @property
    def end(self) -> float:
        return self.start + self.duration


class AudioFile:
    """A decodable audio file that reads windows by seeking.

    Parameters
    ----------
    path : path to the file.

    Attributes
    ----------
    samplerate : native sample rate, Hz.
    channels : native channel count.
    duration : decodable length in seconds (counted, or stated by a header and checked).
    warnings : one-line remarks about the file (e.g. "truncated: ...").
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        _check_path(self.path)
        self.warnings: list[str] = []
        self._backend = _open_soundfile(self.path) or _PyAVBackend(self.path)
        try:
            self.samplerate, self.channels, stated = self._backend.info()
            self.duration = self._backend.decodable_seconds(stated)
        except Exception:
            self._backend.close()
            raise
        if not self.duration or self.duration <= 0 or not np.isfinite(self.duration):
            self._backend.close()
            raise AudioError("no audio frames (zero length)")
        if self.duration > MAX_DURATION:
            self._backend.close()
            raise AudioError(f"too long ({self.duration / 3600:.1f} h > {MAX_DURATION / 3600:.0f} h)")
        if self._backend.exact_header and stated - self.duration > _TRUNCATION_SLACK:
            self.warnings.append(f"truncated: the header states {stated:.1f} s, {self.duration:.1f} s can be decoded")
        decoded_bytes = self.duration * self.samplerate * self.channels * 4
        self._whole_file = self.duration <= WHOLE_FILE_SECONDS and decoded_bytes <= _WHOLE_FILE_BYTES
        self._decoded: np.ndarray | None = None  # the whole file, (n, channels), once read

    def read(self, start: float, duration: float, samplerate: int = SEPARATION_RATE, mono: bool = False) -> np.ndarray:
        """Decode ``duration`` seconds from ``start`` as stereo (or, with ``mono``, mono) float32.

        Returns
        -------
        np.ndarray, shape ``(2, n)`` (``(1, n)`` with ``mono``), ``n = round(duration * samplerate)``:
            zero-padded when the file ends early. Mono files are duplicated
            to both channels; more than two channels keep the first two
            (``mono``: their mean, taken before resampling, which halves its cost).
        """
        n_out = int(round(duration * samplerate))
        frames = self._native(max(0.0, start), min(duration, max(0.0, self.duration - start)))
        if mono and frames.size:
            frames = frames[:, :2].mean(axis=1, keepdims=True)
        if frames.size and frames.shape[0] > 0:
            if self.samplerate != samplerate:
                frames = soxr.resample(frames, self.samplerate, samplerate, quality="HQ")
            frames = frames.T
            if frames.shape[0] == 1 and not mono:
                frames = np.repeat(frames, 2, axis=0)
            frames = frames[:2]
        else:
            frames = np.zeros((1 if mono else 2, 0), dtype=np.float32)
        out = np.zeros((1 if mono else 2, n_out), dtype=np.float32)
        n = min(n_out, frames.shape[1])
        out[:, :n] = frames[:, :n]
        if not np.all(np.isfinite(out)):
            raise AudioError("decoder returned non-finite samples")
        return out

    def _native(self, start: float, duration: float) -> np.ndarray:
        """``duration`` seconds from ``start`` at the native rate, ``(n, channels)`` float32, as the backend reads them."""
        if not self._whole_file:
            return self._backend.read(start, duration)
        if self._decoded is None:
            self._decoded = self._backend.read(0.0, self.duration)
        first = self._backend.first_sample(start)
        return self._decoded[first : first + int(round(duration * self.samplerate))]

    def close(self) -> None:
        self._decoded = None
        self._backend.close()

    def __enter__(self) -> AudioFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_path(path: Path) -> None:
    """Raise :class:`AudioError` with the reason when ``path`` is not a readable, non-empty regular file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise AudioError("broken symlink (its target does not exist)" if path.is_symlink() else "file not found") from None
    except PermissionError:
        raise AudioError("permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AudioError("symlink loop") from None
        raise AudioError(f"cannot open ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise AudioError("permission denied (a folder that cannot be read)")
        raise AudioError("is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise AudioError("not a regular file")
    if info.st_size == 0:
        raise AudioError("empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioError("permission denied")


_STDERR_LOCK = threading.Lock()


@contextmanager
def quiet_stderr(path: Path) -> Iterator[None]:
    """Capture what C libraries print to file descriptor 2 (libmpg123's notes) and log it at debug level.

    File descriptor 2 is process-wide: calls are serialised by a lock, and output
    of other threads during the call lands in the same debug log line.
    """
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.debug("%s: decoder said: %s", path, " | ".join(text.splitlines()))


class _SoundFileBackend:
    """libsndfile: formats whose header states the length (checked by reading the end)."""

    exact_header = True

    def __init__(self, handle, path: Path):
        self.handle, self.path = handle, path

    def info(self):
        h = self.handle
        return h.samplerate, h.channels, h.frames / h.samplerate if h.frames > 0 else 0.0

    def decodable_seconds(self, stated: float) -> float:
        """``stated`` when the last second decodes; else the frames counted by reading to the end."""
        h = self.handle
        if h.frames <= 0:
            return 0.0
        tail = min(h.frames, h.samplerate)
        try:
            h.seek(h.frames - tail)
            if h.read(tail, dtype="float32", always_2d=True).shape[0] == tail:
                return stated
        except Exception:  # libsndfile cannot seek into missing data
            pass
        import soundfile as sf

        counted = 0
        with sf.SoundFile(str(self.path)) as counter:  # a fresh handle: a failed seek can spoil the old one
            while True:
                try:
                    block = counter.read(1 << 16, dtype="float32", always_2d=True).shape[0]
                except Exception:  # the decoder gives up where the data ends
                    break
                if block == 0:
                    break
                counted += block
        h.close()
        self.handle = sf.SoundFile(str(self.path))
        return counted / self.handle.samplerate

    def first_sample(self, start: float) -> int:
        """Index of the first sample :meth:`read` returns for ``start`` seconds."""
        return int(start * self.handle.samplerate)

    def read(self, start: float, duration: float) -> np.ndarray:
        h = self.handle
        first = self.first_sample(start)
        if first >= h.frames:
            return np.zeros((0, h.channels), dtype=np.float32)
        h.seek(first)
        return h.read(int(round(duration * h.samplerate)), dtype="float32", always_2d=True)

    def close(self) -> None:
        self.handle.close()


class _PyAVBackend:
    """FFmpeg through PyAV: MP3, M4A/AAC/ALAC, WMA and anything else; the length is counted from packets."""

    exact_header = False  # an MP3's stated length is an estimate: a shorter count is no sign of truncation

    def __init__(self, path: Path):
        import av

        self.path = path
        try:
            self.container = av.open(str(path))
        except Exception:  # av raises many error types
            raise AudioError("not an audio file (no decoder recognises it)") from None
        streams = self.container.streams.audio
        if not streams or not streams[0].codec_context.sample_rate:
            self.container.close()
            raise AudioError("not an audio file (no audio stream)" if not streams else "not an audio file")
        self.stream = streams[0]
        #: Timestamp (s) of the first decoded sample: the encoder delay of a LAME MP3, 0 for most files.
        self.offset = float(self.stream.start_time * self.stream.time_base) if self.stream.start_time else 0.0

    def info(self):
        s = self.stream
        counted = _mp3_frame_count_seconds(self.path) if s.codec_context.name.startswith("mp3") else None
        if counted is not None:  # a Xing/Info or VBRI header counts the frames: exact
            self.exact_header = True
            return s.codec_context.sample_rate, s.codec_context.channels, counted
        if s.duration is not None and s.time_base is not None:
            stated = float(s.duration * s.time_base)
        elif self.container.duration is not None:
            stated = self.container.duration / 1_000_000
        else:
            stated = 0.0
        return s.codec_context.sample_rate, s.codec_context.channels, stated

    def decodable_seconds(self, stated: float) -> float:
        """Seconds of audio in the packets, from their timestamps and durations (demuxed, not decoded).

        ``stated`` (the container's own figure) is not used: for MP3 it is an
        estimate from the file size or a header that may be stale.
        """
        import av

        first = end = None
        try:
            for packet in self.container.demux(self.stream):
                if packet.size == 0 or packet.pts is None or not packet.duration:
                    continue
                first = packet.pts if first is None else min(first, packet.pts)
                end = packet.pts + packet.duration if end is None else max(end, packet.pts + packet.duration)
        except av.error.FFmpegError:
            pass  # a damaged tail: keep what was demuxed
        if first is None:
            raise AudioError("not an audio file (no audio packets)")
        if not self._first_packets_decode():
            raise AudioError("not an audio file (its first packets do not decode)")
        return max(0.0, float(end * self.stream.time_base) - max(self.offset, float(first * self.stream.time_base)))

    def _first_packets_decode(self, count: int = 40) -> bool:
        """Whether most of the first ``count`` packets decode (random bytes demux as MP3 packets that do not)."""
        import av

        self.container.seek(0, stream=self.stream)
        tried = failed = 0
        for packet in self.container.demux(self.stream):
            if packet.size == 0:
                continue
            tried += 1
            try:
                packet.decode()
            except av.error.FFmpegError:
                failed += 1
            if tried >= count:
                break
        return failed * 2 <= tried

    def first_sample(self, start: float) -> int:
        """Index of the first sample :meth:`read` returns for ``start`` seconds (frames are placed by timestamp)."""
        return int(round(start * self.stream.codec_context.sample_rate))

    def read(self, start: float, duration: float) -> np.ndarray:
        import av

        sr = self.stream.codec_context.sample_rate
        channels = self.stream.codec_context.channels
        preroll = _PREROLL_SECONDS if self.container.format.name == "mp3" else 0.0
        if start > preroll:  # an MP3 frame needs the ones before it: decode from a little earlier
            target = start - preroll + self.offset
            self.container.seek(int(target / self.stream.time_base), stream=self.stream, backward=True)
        else:
            self.container.seek(0, stream=self.stream)
        time_base, need, first = float(self.stream.time_base), int(round(duration * sr)), self.first_sample(start)
        fifo, skip = av.AudioFifo(), None  # skip: samples of the first kept frame before ``start``
        try:
            for frame in self.container.decode(self.stream):
                if skip is None:  # frames follow one another: the first one kept places them all
                    t0 = frame.pts * time_base - self.offset if frame.pts is not None else start
                    skip = first - int(round(t0 * sr))  # in whole samples: no tie rounds two ways
                    if skip >= frame.samples:  # wholly before ``start`` (the MP3 warm-up)
                        skip = None
                        continue
                frame.pts = None  # one block of samples: the fifo need not check the timestamps
                fifo.write(frame)
                if fifo.samples >= max(skip, 0) + need:
                    break
        except av.error.FFmpegError as exc:
            if not fifo.samples:
                raise AudioError(f"not an audio file (decoding failed: {_short(exc)})") from None
        if not fifo.samples:
            return np.zeros((0, channels), dtype=np.float32)
        block = fifo.read()
        data = block.to_ndarray()  # planar (channels, n); packed (1, n * channels)
        if block.format.is_packed:
            data = data.reshape(-1, channels).T
        return _to_float32(data[:, max(skip, 0) :][:, :need]).T  # (n, channels), as libsndfile's

    def close(self) -> None:
        self.container.close()


def _mp3_frame_count_seconds(path: Path) -> float | None:
    """An MP3's length (s) from its Xing/Info or VBRI frame count (mutagen), or None without one."""
    from mutagen.mp3 import MP3, BitrateMode

    try:
        info = MP3(str(path)).info
    except Exception:  # mutagen raises many types on damaged files
        return None
    # mutagen sets a bitrate mode only from such a header; without one the length is a size estimate.
    return float(info.length) if info.bitrate_mode != BitrateMode.UNKNOWN and info.length > 0 else None


def _to_float32(data: np.ndarray) -> np.ndarray:
    if data.dtype.kind == "f":
        return data.astype(np.float32, copy=False)
    scale = float(np.iinfo(data.dtype).max) + 1.0
    return (data.astype(np.float32) / scale).astype(np.float32)


def _open_soundfile(path: Path) -> _SoundFileBackend | None:
    """libsndfile's reader for formats with an exact length header, or None (MP3 and the rest go to PyAV)."""
    import soundfile as sf

    with quiet_stderr(path):
        try:
            handle = sf.SoundFile(str(path))
        except Exception:
            return None
    if handle.format in ("MP3", "MPEG"):
        handle.close()
        return None
    return _SoundFileBackend(handle, path)


def _short(exc: Exception) -> str:
    """A short one-line reason: FFmpeg's own message without errno and file name when there is one."""
    text = getattr(exc, "strerror", None) or str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__


def _level_db(x: np.ndarray) -> float:
    """RMS level (dBFS) of ``x`` ``(2, n)``, channels averaged first."""
    return float(10 * np.log10(np.mean(np.square(x.mean(axis=0), dtype=np.float64)) + 1e-20))


def inaudible(level: float, where: str = "") -> AudioError:
    """The error for audio below ``SILENCE_DB`` at ``level`` dBFS: silent, or too quiet when not digital silence."""
    if level > DIGITAL_SILENCE_DB:
        return AudioError(f"too quiet to analyse: {level:.0f} dBFS{where} (at least {SILENCE_DB:g} dBFS needed)")
    return AudioError(f"silent: no audible signal{where}")


def _audible_blocks(x: np.ndarray, rate: int) -> np.ndarray:
    """Indices of the ``_BLOCK_SECONDS`` blocks of ``x`` ``(2, n)`` louder than ``SILENCE_DB`` (a short last block counts)."""
    n = int(_BLOCK_SECONDS * rate)
    mono = x.mean(axis=0)
    pad = (-mono.size) % n
    blocks = np.pad(mono, (0, pad)).reshape(-1, n)
    sizes = np.full(blocks.shape[0], n)
    sizes[-1] = n - pad
    power = np.square(blocks, dtype=np.float64).sum(axis=1) / np.maximum(sizes, 1)
    return np.flatnonzero(10 * np.log10(power + 1e-20) > SILENCE_DB)


def audible_span(audio: AudioFile, probe: float = 60.0, chunk: float = 5.0) -> tuple[float, float]:
    """``(start, end)`` in seconds of the track without its silent lead-in and tail.

    Looks at most ``probe`` seconds into each end, ``chunk`` seconds at a time
    (so a track that starts at once costs one chunk per end), in blocks of 0.1 s
    at the file's own rate; ``start == end`` when no block is louder than ``SILENCE_DB``.
    """
    rate = audio.samplerate
    limit = min(probe, audio.duration)
    start = limit  # a lead-in longer than the probe: start where the probe ended
    for at in map(float, np.arange(0.0, limit, chunk)):  # Python floats: results must pickle without numpy
        loud = _audible_blocks(audio.read(at, min(chunk, limit - at), rate), rate)
        if loud.size:
            start = at + float(loud[0] * _BLOCK_SECONDS)
            break
    end = None
    floor = max(start, audio.duration - probe)
    for until in map(float, np.arange(audio.duration, floor, -chunk)):
        at = max(floor, until - chunk)
        loud = _audible_blocks(audio.read(at, until - at, rate), rate)
        if loud.size:
            end = min(until, at + float(loud[-1] + 1) * _BLOCK_SECONDS)
            break
    return (start, start) if end is None else (start, max(start, end))


def choose_windows(audio: AudioFile, count: int = 3, length: float = WINDOW_SECONDS) -> list[Window]:
    """Spread ``count`` windows of ``length`` seconds over the audible part of a track.

    Silent lead-in and tail (below ``SILENCE_DB``) are skipped. Window ``i``
    starts at ``(i + 0.5) / count`` of the room left by the window length, so
    windows are centred on an even grid and overlap on short tracks. A track
    whose audible part is shorter than ``length`` gets one window holding all of
    it (``audible`` seconds, looped by :func:`read_window`).

    Raises :class:`AudioError` "silent" when nothing is audible (digital silence),
    "too quiet to analyse" when nothing reaches ``SILENCE_DB`` and "too short"
    below ``MIN_AUDIBLE_SECONDS`` of audible signal.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    start, end = audible_span(audio)
    audible = end - start
    if audible <= 0:
        raise inaudible(_level_db(audio.read(0.0, min(60.0, audio.duration), audio.samplerate)))
    if audible < MIN_AUDIBLE_SECONDS:
        raise AudioError(f"too short: {audible:.1f} s of audio, at least {MIN_AUDIBLE_SECONDS:g} s needed")
    if audible <= length:
        return [Window(start, length, audible)]
    room = audible - length
    return [Window(start + room * (i + 0.5) / count, length, length) for i in range(count)]


@dataclass(frozen=True)
class Span:
    """Overlapping windows of one track, read and analysed as one stretch of audio.

    ``read``: the stretch (a :class:`Window`; a looped short track is its own span);
    ``offsets``: where each window starts, seconds after ``read.start``;
    ``length``: the windows' length, seconds.
    """

    read: Window
    offsets: tuple[float, ...]
    length: float

    @property
    def windows(self) -> list[Window]:
        """The windows of the span, with their (possibly moved) starts."""
        if self.read.looped:
            return [self.read]
        return [Window(self.read.start + o, self.length, self.length) for o in self.offsets]

    def sample_offsets(self, samplerate: int = SEPARATION_RATE) -> list[int]:
        """Window starts in samples from the start of the span's audio."""
        return [int(round(o * samplerate)) for o in self.offsets]


def merge_windows(windows: list[Window], step: float) -> list[Span]:
    """Group windows that overlap into spans, each read and analysed once.

    A window's start moves to the nearest multiple of ``step`` seconds (an analysis
    hop) after its span's start, by at most ``step / 2``, so that every window
    is a whole number of hops into the span. Windows are in time order.
    """
    spans: list[Span] = []
    for w in windows:
        last = spans[-1] if spans else None
        if last is not None and not w.looped and not last.read.looped and w.start < last.read.end:
            offset = round((w.start - last.read.start) / step) * step
            read = Window(last.read.start, offset + w.duration, offset + w.duration)
            spans[-1] = Span(read, last.offsets + (offset,), w.duration)
        else:
            spans.append(Span(w, (0.0,), w.duration))
    return spans


def read_spans(
    audio: AudioFile, windows: list[Window], step: float, samplerate: int = SEPARATION_RATE
) -> tuple[list[Window], list[tuple[np.ndarray, list[int]]], int]:
    """Read overlapping windows (of one length) once, as spans (:func:`merge_windows`), in mono.

    Returns the windows with their moved starts; per span its audio (mono float32
    ``(1, n)``, :func:`read_window`) with each window's start in it (samples); and the
    length of a window in samples (as :func:`read_window` would read it).
    """
    spans = merge_windows(windows, step)
    moved = [w for span in spans for w in span.windows]
    length = int(round(windows[0].duration * samplerate))
    return moved, [(read_window(audio, span.read, samplerate, mono=True), span.sample_offsets(samplerate))
                   for span in spans], length


def loop_to_length(audio: np.ndarray, n: int, crossfade: int) -> np.ndarray:
    """Repeat ``audio`` ``(channels, m)`` to ``(channels, n)``, joining copies with a linear crossfade.

    Each copy overlaps the previous one by ``crossfade`` samples (at most half a copy),
    so the joins have no click. ``audio`` longer than ``n`` is cut.
    """
    m = audio.shape[-1]
    if m >= n:
        return audio[..., :n]
    crossfade = max(0, min(crossfade, m // 2))
    fade_in = np.linspace(0.0, 1.0, crossfade, endpoint=False, dtype=np.float32)
    out = audio.copy()
    while out.shape[-1] < n:
        joined = out[..., out.shape[-1] - crossfade :] * (1 - fade_in) + audio[..., :crossfade] * fade_in
        out = np.concatenate([out[..., : out.shape[-1] - crossfade], joined, audio[..., crossfade:]], axis=-1)
    return out[..., :n]


def read_window(audio: AudioFile, window: Window, samplerate: int = SEPARATION_RATE, mono: bool = False) -> np.ndarray:
    """The audio of ``window`` as stereo float32 ``(2, round(window.duration * samplerate))`` (``mono``: ``(1, ...)``).

    A window holding less audio than it spans (a short track) is looped with a
    ``CROSSFADE_SECONDS`` crossfade to fill it.
    """
    if not window.looped:
        return audio.read(window.start, window.duration, samplerate, mono)
    held = audio.read(window.start, window.audible, samplerate, mono)
    return loop_to_length(held, int(round(window.duration * samplerate)), int(CROSSFADE_SECONDS * samplerate))
