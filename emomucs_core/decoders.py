"""The two readers behind :class:`~emomucs_core.audio.AudioFile`: libsndfile and PyAV (FFmpeg).

Each gives the native rate, channels and stated length (``info``), the decodable length
(``decodable_seconds``: a libsndfile header checked by reading the last second, a PyAV
stream counted from its packets), and ``(n, channels)`` float32 samples from a time
(``read``). Decoder chatter on file descriptor 2 is captured (:func:`quiet_stderr`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

log = logging.getLogger(__name__)

#: PyAV reads of MP3 start decoding this many seconds before a window (the decoder's warm-up is discarded).
_PREROLL_SECONDS = 0.5
_STDERR_LOCK = threading.Lock()


class AudioError(Exception):
    """A file that cannot be analysed; the message says why in one line."""


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
        # Each frame's samples as an array, joined once at the end: half the CPU of an ``AudioFifo``'s writes
        # (a 30-s MP3: 31 to 23 ms, docs/benchmarks.md), the same samples.
        blocks, have, skip = [], 0, None  # skip: samples of the first kept frame before ``start``
        try:
            for frame in self.container.decode(self.stream):
                if skip is None:  # frames follow one another: the first one kept places them all
                    t0 = frame.pts * time_base - self.offset if frame.pts is not None else start
                    skip = first - int(round(t0 * sr))  # in whole samples: no tie rounds two ways
                    if skip >= frame.samples:  # wholly before ``start`` (the MP3 warm-up)
                        skip = None
                        continue
                    packed = frame.format.is_packed
                blocks.append(frame.to_ndarray())  # planar (channels, samples); packed (1, samples * channels)
                have += frame.samples
                if have >= max(skip, 0) + need:
                    break
        except av.error.FFmpegError as exc:
            if not have:
                raise AudioError(f"not an audio file (decoding failed: {_short(exc)})") from None
        if not have:
            return np.zeros((0, channels), dtype=np.float32)
        data = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
        if packed:
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
