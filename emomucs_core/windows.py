"""Where a track's analysis windows go and how they are read: audible part, short tracks, spans.

Rules (docs/architecture.md):

- windows are placed over the audible part (edges far below the track's own level skipped,
  so the places do not depend on the file's gain)
  of the *decoded* length (:func:`choose_windows`);
- a track with less than ``MIN_AUDIBLE_SECONDS`` of audible signal is refused
  ("too short"); one shorter than a window is looped, with a short crossfade, to
  fill it (:func:`read_window`), so the model sees music, not zero padding;
- overlapping windows can be read once, as spans (:func:`read_spans`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .audio import AudioError, AudioFile
from .constants import SEPARATION_RATE, WINDOW_SECONDS

#: A whole window quieter than this (dBFS, RMS) is silence.
SILENCE_DB = -50.0
#: A 0.1-s block at a track's edge more than this below the loudest block near that edge is silence (dB).
EDGE_RANGE_DB = 40.0
#: A 0.1-s block quieter than this (dBFS, RMS) is silence wherever it is (16-bit dither lies below it).
EDGE_FLOOR_DB = -90.0
#: Below this level (dBFS, RMS) audio is silent; between it and ``SILENCE_DB`` it is "too quiet to analyse".
DIGITAL_SILENCE_DB = -120.0
#: Tracks with less audible signal than this (seconds) are refused as "too short".
MIN_AUDIBLE_SECONDS = 3.0
#: Crossfade (seconds) where a short track is looped to fill a window.
CROSSFADE_SECONDS = 0.05
#: Resolution (seconds) of the edge-silence search.
_BLOCK_SECONDS = 0.1


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


def _level_db(x: np.ndarray) -> float:
    """RMS level (dBFS) of ``x`` ``(2, n)``, channels averaged first."""
    return float(10 * np.log10(np.mean(np.square(x.mean(axis=0), dtype=np.float64)) + 1e-20))


def inaudible(level: float, where: str = "") -> AudioError:
    """The error for audio below ``SILENCE_DB`` at ``level`` dBFS: silent, or too quiet when not digital silence."""
    if level > DIGITAL_SILENCE_DB:
        return AudioError(f"too quiet to analyse: {level:.0f} dBFS{where} (at least {SILENCE_DB:g} dBFS needed)")
    return AudioError(f"silent: no audible signal{where}")


def _block_levels(x: np.ndarray, rate: int) -> np.ndarray:
    """RMS level (dBFS) of each ``_BLOCK_SECONDS`` block of ``x`` ``(2, n)``, channels averaged (a short last block counts)."""
    n = int(_BLOCK_SECONDS * rate)
    mono = x.mean(axis=0)
    pad = (-mono.size) % n
    blocks = np.pad(mono, (0, pad)).reshape(-1, n)
    sizes = np.full(blocks.shape[0], n)
    sizes[-1] = n - pad
    power = np.square(blocks, dtype=np.float64).sum(axis=1) / np.maximum(sizes, 1)
    return 10 * np.log10(power + 1e-20)


def _edge_sound(audio: AudioFile, chunks: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    """Where sound begins and ends (s) near one edge of a track, or None when there is none.

    ``chunks``: ``(start, end)`` pairs in seconds, walked from the edge inwards. The first chunk
    with a block above ``EDGE_FLOOR_DB`` and the chunk after it are looked at together; their
    blocks less than ``EDGE_RANGE_DB`` below the loudest of them are sound.
    """
    rate = audio.samplerate
    chunks = iter(chunks)
    for chunk in chunks:
        levels = _block_levels(audio.read(chunk[0], chunk[1] - chunk[0], rate), rate)
        if not (levels > EDGE_FLOOR_DB).any():
            continue
        parts = [(chunk, levels)]
        following = next(chunks, None)
        if following is not None:
            parts.append((following, _block_levels(audio.read(following[0], following[1] - following[0], rate), rate)))
        threshold = max(EDGE_FLOOR_DB, max(float(lv.max()) for _, lv in parts) - EDGE_RANGE_DB)
        blocks = [(at + i * _BLOCK_SECONDS, min(until, at + (i + 1) * _BLOCK_SECONDS))
                  for (at, until), lv in parts for i in np.flatnonzero(lv > threshold)]
        return float(min(b[0] for b in blocks)), float(max(b[1] for b in blocks))  # Python floats: they pickle
    return None


def audible_span(audio: AudioFile, probe: float = 60.0, chunk: float = 5.0) -> tuple[float, float]:
    """``(start, end)`` in seconds of the track without its silent lead-in and tail.

    A 0.1-s block at an edge is silent when it is more than ``EDGE_RANGE_DB`` below the
    loudest block of the first ``2 * chunk`` seconds of sound at that edge, or below
    ``EDGE_FLOOR_DB``: relative to the track, so that a file at another gain has its
    windows at the same places. Looks at most ``probe`` seconds into each end,
    ``chunk`` seconds at a time (a track that starts at once costs two chunks per end),
    at the file's own rate; ``start == end`` when no block is louder than ``EDGE_FLOOR_DB``.
    """
    limit = min(probe, audio.duration)
    start = limit  # a lead-in longer than the probe: start where the probe ended
    heads = [(at, min(at + chunk, limit)) for at in map(float, np.arange(0.0, limit, chunk))]
    found = _edge_sound(audio, heads)
    if found is not None:
        start = found[0]
    floor = max(start, audio.duration - probe)
    tails = [(max(floor, until - chunk), until) for until in map(float, np.arange(audio.duration, floor, -chunk))]
    found = _edge_sound(audio, tails)
    if found is None:
        return start, start
    return start, max(start, found[1])


def choose_windows(audio: AudioFile, count: int = 3, length: float = WINDOW_SECONDS) -> list[Window]:
    """Spread ``count`` windows of ``length`` seconds over the audible part of a track.

    Silent lead-in and tail (:func:`audible_span`) are skipped. Window ``i``
    starts at ``(i + 0.5) / count`` of the room left by the window length, so
    windows are centred on an even grid and overlap on short tracks. A track
    whose audible part is shorter than ``length`` gets one window holding all of
    it (``audible`` seconds, looped by :func:`read_window`).

    Raises :class:`AudioError` "silent" (digital silence) or "too quiet to analyse"
    when no block reaches ``EDGE_FLOOR_DB``, and "too short" below ``MIN_AUDIBLE_SECONDS`` of audible signal.
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
