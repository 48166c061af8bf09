"""Decode audio files of any common format: :class:`AudioFile`, with the true length and one-line errors.

Long files are never read whole: :class:`AudioFile` seeks to each window, so memory
stays flat whatever the length of the track; a file of at most ``WHOLE_FILE_SECONDS``
(a clip, whose windows and edge probes cover most of it anyway) is decoded once and
read from memory. libsndfile (via ``soundfile``) reads WAV, AIFF, FLAC, Ogg Vorbis and
Opus, whose headers state the length exactly (checked by reading the end); everything
else (MP3, M4A/AAC, ALAC, WMA, ...) goes through PyAV, which bundles FFmpeg, and its
length is counted from the demuxed packets (no decoding), because MP3 headers often
state no length, or a wrong one, and a length estimated from the file size counts tags
and cover art as audio (the two readers: :mod:`.decoders`). Where the windows go and
how they are read: :mod:`.windows`.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import soxr

from .constants import SEPARATION_RATE
from .decoders import AudioError, _open_soundfile, _PyAVBackend
from .loudness import clipped_samples

__all__ = ["AudioError", "AudioFile"]

#: Files longer than this (seconds) are refused as "huge" (24 hours).
MAX_DURATION = 24 * 3600.0
#: Files up to this long (seconds) and :data:`_WHOLE_FILE_BYTES` decoded are decoded once, at the first read.
WHOLE_FILE_SECONDS = 60.0
_WHOLE_FILE_BYTES = 32 << 20
#: A header-stated length longer than the decodable audio by this much (seconds) marks a truncated file.
_TRUNCATION_SLACK = 1.0


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
    samples_read, samples_clipped : native samples :meth:`read` has decoded, and how many of
        them are in clipped runs (:func:`~.loudness.clipped_samples`); reset them to count a stretch of reads.
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
        self.samples_read = self.samples_clipped = 0

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
        self.samples_read += frames.size
        self.samples_clipped += clipped_samples(frames)
        if mono and frames.size and frames.shape[1] > 1:
            # the mean of the first two channels, as mean(axis=1) gives it to the bit but without its
            # slow reduction along the short axis (35 ms per 4-minute track)
            frames = ((frames[:, 0] + frames[:, 1]) * np.float32(0.5))[:, None]
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
