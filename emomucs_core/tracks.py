"""One track's input to the model: decode it, place and read its windows (or spans), check them, scale them.

:func:`read_track` never raises for a bad file: the :class:`TrackInput` it returns
carries a one-line ``error`` instead, so that the rest of a batch goes on. The
checks themselves (silence, level, bandwidth) are :mod:`.input_checks`'; where the
windows go and how they are read, :mod:`.windows`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio import AudioError, AudioFile
from .constants import SEPARATION_RATE
from .input_checks import check_windows
from .loudness import clipping_warning, normalise_loudness
from .profiling import stage
from .windows import Window, choose_windows, read_spans, read_window


@dataclass
class TrackInput:
    """The audible windows of one file, as the model is given them.

    ``starts``: seconds, one per window kept. A window separator gets ``audio``
    ``(K, 2, n)`` float32 at 44.1 kHz; a span separator ``spans``: per span its mono audio
    ``(1, n)`` at the separator's span rate and the kept windows' offsets in it (samples),
    ``window_samples`` long each. ``started``: ``time.perf_counter()`` when reading began.
    """

    path: Path
    started: float
    starts: list[float] = field(default_factory=list)
    audio: np.ndarray | None = None
    spans: list[tuple[np.ndarray, list[int]]] | None = None
    window_samples: int = 0
    duration: float | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def read_track(path: str | Path, windows: int, window_seconds: float, span_rate: int | None = None,
               hop_seconds: float = 0.0, loudness_lufs: float | None = None) -> TrackInput:
    """Read ``windows`` windows of ``window_seconds`` from ``path``; with ``span_rate``, as spans in mono at that rate.

    ``hop_seconds``: the features' hop, onto which windows of a span are moved (:func:`~.windows.read_spans`).
    ``loudness_lufs``: the integrated loudness the audible windows (or spans) are scaled to together
    (:func:`~.loudness.normalise_loudness`); None leaves them as decoded.
    """
    track = TrackInput(Path(path), time.perf_counter())
    try:
        with stage("decode"), AudioFile(track.path) as audio:
            track.duration = audio.duration
            chosen = choose_windows(audio, windows, window_seconds)
            audio.samples_read = audio.samples_clipped = 0  # clipping is counted in the analysed audio only
            if span_rate:
                _read_spans(track, audio, chosen, hop_seconds, span_rate)
                signals, rate = [a for a, _ in track.spans], span_rate
            else:
                read = np.stack([read_window(audio, w) for w in chosen])
                track.audio = read[_check(track, audio, chosen, read, SEPARATION_RATE)]
                signals, rate = list(track.audio), SEPARATION_RATE
            if loudness_lufs is not None:
                normalise_loudness(signals, rate, loudness_lufs)
    except AudioError as exc:
        track.error = str(exc)
    except MemoryError:
        track.error = "out of memory while decoding"
    except Exception as exc:  # a decoder bug must not stop the batch
        track.error = f"cannot decode ({type(exc).__name__}: {exc})".splitlines()[0]
    return track


def _read_spans(track: TrackInput, audio: AudioFile, chosen: list[Window], hop_seconds: float, rate: int) -> None:
    """Read the overlapping windows of a track once, as spans; keep the offsets of audible windows."""
    chosen, spans, length = read_spans(audio, chosen, hop_seconds, rate)
    track.window_samples = length
    windows = [a[:, o : o + length] for a, offs in spans for o in offs]
    keep = iter(_check(track, audio, chosen, windows, rate))
    kept = [(a, [o for o in offs if next(keep)]) for a, offs in spans]
    track.spans = [(a, offs) for a, offs in kept if offs]


def _check(track: TrackInput, audio: AudioFile, chosen: list[Window], windows, rate: int) -> np.ndarray:
    """Silence/level/band checks of the windows read (at ``rate`` Hz): sets starts and warnings, returns the audible ones."""
    with stage("input checks"):
        keep, warnings = check_windows(windows, rate)
    track.starts = [w.start for w, k in zip(chosen, keep) if k]
    clipped = clipping_warning(audio.samples_clipped, audio.samples_read)
    track.warnings = audio.warnings + [
        f"short track: {w.audible:.1f} s looped to fill a {w.duration:g}-s window"
        for w in chosen if w.looped
    ] + warnings + ([clipped] if clipped else [])
    return np.asarray(keep)
