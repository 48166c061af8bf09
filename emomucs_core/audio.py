"""Decode audio files of any common format and choose the analysis windows.

Files are never read whole: :class:`AudioFile` seeks to each window, so memory
stays flat whatever the length of the track. libsndfile (via ``soundfile``)
reads WAV, AIFF, FLAC, Ogg Vorbis, Opus and MP3; everything else (M4A/AAC, ALAC,
WMA, ...) goes through PyAV, which bundles FFmpeg.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

#: Sample rate of the separator input, in Hz.
SEPARATION_RATE = 44100
#: Length of one model window, in seconds (paper: 20-second clips).
WINDOW_SECONDS = 20.0
#: Files longer than this (seconds) are refused as "huge" (24 hours).
MAX_DURATION = 24 * 3600.0
#: A block quieter than this (dBFS, RMS) counts as silence at the edges of a track.
SILENCE_DB = -50.0


class AudioError(Exception):
    """A file that cannot be analysed; the message says why in one line."""


@dataclass(frozen=True)
class Window:
    """One analysis window of a track: ``start`` and ``duration`` in seconds."""

    start: float
    duration: float


class AudioFile:
    """A decodable audio file that reads windows by seeking.

    Parameters
    ----------
    path : path to the file.

    Attributes
    ----------
    samplerate : native sample rate, Hz.
    channels : native channel count.
    duration : length in seconds (an estimate for some compressed formats).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise AudioError("file not found")
        if self.path.stat().st_size == 0:
            raise AudioError("empty file (0 bytes)")
        self._backend = _open_soundfile(self.path) or _PyAVBackend(self.path)
        self.samplerate, self.channels, self.duration = self._backend.info()
        if not self.duration or self.duration <= 0 or not np.isfinite(self.duration):
            raise AudioError("no audio frames (zero length)")
        if self.duration > MAX_DURATION:
            raise AudioError(f"too long ({self.duration / 3600:.1f} h > {MAX_DURATION / 3600:.0f} h)")

    def read(self, start: float, duration: float, samplerate: int = SEPARATION_RATE) -> np.ndarray:
        """Decode ``duration`` seconds from ``start`` as stereo float32.

        Returns
        -------
        np.ndarray, shape ``(2, n)``, ``n = round(duration * samplerate)``:
            zero-padded when the file ends early. Mono files are duplicated
            to both channels; more than two channels keep the first two.
        """
        n_out = int(round(duration * samplerate))
        frames = self._backend.read(max(0.0, start), duration)  # (n, channels) at native rate
        if frames.size and frames.shape[0] > 0:
            if self.samplerate != samplerate:
                frames = soxr.resample(frames, self.samplerate, samplerate, quality="HQ")
            frames = frames.T
            if frames.shape[0] == 1:
                frames = np.repeat(frames, 2, axis=0)
            frames = frames[:2]
        else:
            frames = np.zeros((2, 0), dtype=np.float32)
        out = np.zeros((2, n_out), dtype=np.float32)
        n = min(n_out, frames.shape[1])
        out[:, :n] = frames[:, :n]
        if not np.all(np.isfinite(out)):
            raise AudioError("decoder returned non-finite samples")
        return out

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> AudioFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _SoundFileBackend:
    def __init__(self, handle):
        self.handle = handle

    def info(self):
        h = self.handle
        return h.samplerate, h.channels, h.frames / h.samplerate if h.frames > 0 else 0.0

    def read(self, start: float, duration: float) -> np.ndarray:
        h = self.handle
        first = int(start * h.samplerate)
        if first >= h.frames:
            return np.zeros((0, h.channels), dtype=np.float32)
        h.seek(first)
        return h.read(int(round(duration * h.samplerate)), dtype="float32", always_2d=True)

    def close(self) -> None:
        self.handle.close()


class _PyAVBackend:
    def __init__(self, path: Path):
        import av

        self.path = path
        try:
            self.container = av.open(str(path))
        except Exception as exc:  # av raises many error types
            raise AudioError(f"not a readable audio file ({_short(exc)})") from None
        if not self.container.streams.audio:
            self.container.close()
            raise AudioError("no audio stream")
        self.stream = self.container.streams.audio[0]

    def info(self):
        s = self.stream
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self.container.duration is not None:
            duration = self.container.duration / 1_000_000
        else:
            duration = 0.0
        return s.codec_context.sample_rate or s.rate, s.codec_context.channels, duration

    def read(self, start: float, duration: float) -> np.ndarray:
        import av

        sr = self.stream.codec_context.sample_rate
        channels = self.stream.codec_context.channels
        if start > 0:
            self.container.seek(int(start / self.stream.time_base), stream=self.stream, backward=True)
        else:
            self.container.seek(0, stream=self.stream)
        chunks, have, need = [], 0, int(round(duration * sr))
        try:
            for frame in self.container.decode(self.stream):
                data = frame.to_ndarray()
                data = data.reshape(-1, channels) if frame.format.is_packed else data.T
                data = _to_float32(data)
                t0 = float(frame.pts * self.stream.time_base) if frame.pts is not None else start
                skip = int(round((start - t0) * sr))
                if skip > 0:
                    data = data[skip:]
                if data.shape[0] == 0:
                    continue
                chunks.append(data)
                have += data.shape[0]
                if have >= need:
                    break
        except av.error.FFmpegError as exc:
            if not chunks:
                raise AudioError(f"decoding failed ({_short(exc)})") from None
        if not chunks:
            return np.zeros((0, channels), dtype=np.float32)
        return np.concatenate(chunks)[:need]

    def close(self) -> None:
        self.container.close()


def _to_float32(data: np.ndarray) -> np.ndarray:
    if data.dtype.kind == "f":
        return data.astype(np.float32, copy=False)
    scale = float(np.iinfo(data.dtype).max) + 1.0
    return (data.astype(np.float32) / scale).astype(np.float32)


def _open_soundfile(path: Path):
    import soundfile as sf

    try:
        handle = sf.SoundFile(str(path))
    except Exception:
        return None
    if handle.frames <= 0 and handle.format == "MPEG":
        handle.close()
        return None
    return _SoundFileBackend(handle)


def _short(exc: Exception) -> str:
    """A short one-line reason: FFmpeg's own message without errno and file name when there is one."""
    text = getattr(exc, "strerror", None) or str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__


def _edge_silence(audio: AudioFile, probe: float = 60.0, block: float = 1.0) -> tuple[float, float]:
    """Seconds of silence at the start and at the end of the track (probes at most ``probe`` s)."""
    rate = 8000

    def first_loud(x: np.ndarray) -> int | None:
        n = int(block * rate)
        mono = x.mean(axis=0)
        for i in range(0, mono.size - n + 1, n):
            rms = np.sqrt(np.mean(mono[i : i + n] ** 2) + 1e-20)
            if 20 * np.log10(rms) > SILENCE_DB:
                return i // n
        return None

    span = min(probe, audio.duration)
    head = audio.read(0.0, span, rate)
    lead = first_loud(head)
    if lead is None:  # the whole probe is silent
        return span, 0.0
    tail_start = max(0.0, audio.duration - span)
    tail = audio.read(tail_start, audio.duration - tail_start, rate)[:, ::-1]
    trail = first_loud(np.ascontiguousarray(tail))
    return (lead or 0) * block, (trail or 0) * block


def choose_windows(audio: AudioFile, count: int = 3, length: float = WINDOW_SECONDS) -> list[Window]:
    """Spread ``count`` windows of ``length`` seconds over the audible part of a track.

    Silent lead-in and tail (below ``SILENCE_DB``) are skipped. A track shorter
    than ``length`` gets one window (zero-padded on reading). Otherwise window
    ``i`` starts at ``(i + 0.5) / count`` of the room left by the window length,
    so windows are centred on an even grid and overlap on short tracks.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    lead, trail = _edge_silence(audio)
    start, end = lead, audio.duration - trail
    if end - start <= 0:
        raise AudioError("silent: no audible signal")
    if end - start <= length:
        return [Window(start, length)]
    room = end - start - length
    return [Window(start + room * (i + 0.5) / count, length) for i in range(count)]
