"""Programme loudness and clipping of the audio a model analyses.

The model must not depend on how loud a file was mastered: before any feature,
the analysed signal of a track (its windows, or its spans) is scaled by one gain
so that its integrated loudness (ITU-R BS.1770-4 / EBU R 128: K-weighting,
400-ms blocks, absolute gate at -70 LUFS, relative gate at -10 LU) is
:data:`TARGET_LUFS`. One gain per track keeps the loudness differences *within*
the track (dynamics, crescendos), which carry arousal. The loudness is measured
by libebur128 (through ``pyebur128``), the reference implementation of EBU R 128,
on the signal as the model reads it (mono at 22,050 Hz for the span separators),
never from a stored ReplayGain tag, which can be stale or computed on another
version of the file.

Clipping cannot be undone, only reported: :func:`clipped_samples` counts samples
in runs of at least :data:`CLIP_RUN` consecutive samples at full scale, on the
decoded samples at the file's own rate (resampling and downmixing smear the
flat tops away).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: Integrated loudness (LUFS) the analysed signal of every track is scaled to: close to
#: the median of the 4Q training clips' analysed signal (-17.4 LUFS, mono, 22,050 Hz).
TARGET_LUFS = -18.0
#: A sample at least this large in magnitude is at full scale (-0.18 dBFS: MP3 decoders
#: ripple around the flat tops of a clipped master).
CLIP_LEVEL = 0.98
#: Consecutive samples at full scale that make a clipped run.
CLIP_RUN = 3
#: Share of clipped samples from which a track gets a "clipped" warning. Of 150 4q-dev
#: clips (commercial masters, many limited hard) none reaches 0.5 % (the most: 0.42 %);
#: +12 dB copies of 8 of them reach 0.64 % to 3.9 %.
CLIP_WARN_SHARE = 0.005


def integrated_loudness(signals: Sequence[np.ndarray], samplerate: int) -> float:
    """Gated integrated loudness (LUFS) of ``signals`` taken together, one after another.

    Parameters
    ----------
    signals : float arrays ``(channels, n)``, all with the same channel count.
    samplerate : Hz.

    Returns ``-inf`` when every block is below the absolute gate (-70 LUFS).
    """
    import pyebur128

    channels = signals[0].shape[0]
    state = pyebur128.R128State(channels, int(samplerate), pyebur128.MeasurementMode.MODE_I)
    for x in signals:
        frames = np.ascontiguousarray(np.asarray(x, dtype=np.float32).T)  # interleaved (n, channels)
        state.add_frames(frames.reshape(-1), frames.shape[0])
    return float(pyebur128.get_loudness_global(state))


def normalise_loudness(signals: Sequence[np.ndarray], samplerate: int, target: float = TARGET_LUFS) -> float:
    """Scale ``signals`` (``(channels, n)`` float32 arrays) in place to ``target`` LUFS together.

    Returns the gain applied, in dB (0 for a signal with no block above the absolute gate).
    """
    loudness = integrated_loudness(signals, samplerate)
    if not np.isfinite(loudness):
        return 0.0
    gain_db = target - loudness
    gain = np.float32(10.0 ** (gain_db / 20.0))
    for x in signals:
        x *= gain
    return float(gain_db)


def clipped_samples(frames: np.ndarray) -> int:
    """Samples of ``frames`` ``(n, channels)`` in runs of at least :data:`CLIP_RUN` at full scale, per channel."""
    flat = np.flatnonzero(np.abs(frames) >= CLIP_LEVEL)  # few: work on their positions only
    if flat.size < CLIP_RUN:
        return 0
    n, channels = frames.shape
    # channel by channel, in time order, one position apart within a run, a gap between channels
    key = np.sort(flat % channels * (n + 1) + flat // channels)
    breaks = np.flatnonzero(np.diff(key) != 1) + 1
    lengths = np.diff(np.concatenate(([0], breaks, [key.size])))
    return int(lengths[lengths >= CLIP_RUN].sum())


def clipping_warning(clipped: int, total: int) -> str | None:
    """``"clipped: 4.2 % of samples at full scale"`` when the share reaches :data:`CLIP_WARN_SHARE`, else None."""
    if total <= 0 or clipped / total < CLIP_WARN_SHARE:
        return None
    return f"clipped: {100 * clipped / total:.1f} % of samples at full scale"
