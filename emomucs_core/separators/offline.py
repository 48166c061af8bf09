"""Weight-free approximations of Demucs' four-source split: ``offline:v1`` to ``offline:v7``.

All need no trained model, so they work where Demucs weights cannot be
obtained. They are rough stand-ins for Demucs, built from textbook parts, one
soft mask per source on the mixture STFT:

1. **drums** - the percussive part of a harmonic-percussive separation (median
   filtering, Fitzgerald 2010).
2. **vocals** - the foreground of the harmonic part: REPET-SIM (Rafii & Pardo
   2012), a median over the most similar frames models the repeating background
   and what it does not explain is foreground (as in librosa's "vocal
   separation" example), high-passed at about 80 Hz.
3. **bass** - the harmonic background below about 250 Hz.
4. **other** - the residual, so the four stems always sum to the input.

``offline:v1`` (:class:`OfflineSeparator`) returns stem audio: masks from the
magnitude of the stereo downmix (STFT at 44.1 kHz, 4096-point Hann frame, hop
2048, bins up to 11 kHz; the bins above reuse the mean mask of 5.5-11 kHz),
applied to each channel's STFT and inverted. Its features are then computed
from each stem's audio (:func:`~emomucs_core.features.features_from_audio`).

``offline:v2`` (:class:`MaskedFeatureSeparator`) never makes stem audio. The
window is downmixed and resampled once to 22,050 Hz mono, and one STFT
(:data:`V2_PARAMS`: 2048-point Hann frame, 10.8-Hz bins; hop 512, 43 frames/s,
enough for the descriptors' modulation bands up to 16 Hz) serves everything:
the masks are estimated on a grid of 2 x 2 STFT cells (21.5 Hz x 46 ms, the
time resolution of v1) with 9-point median filters (HPSS: 9 cells = 418 ms
along time and 194 Hz along frequency; REPET-SIM: the median of the 9 most
similar frames at least 2 s away), interpolated linearly in time back to the
STFT frames (each mask value covers the two bins of its cell), and each stem's
log-mel and chroma come from its masked power ``|X|**2 * mask**2``
(:func:`~emomucs_core.features.features_from_power`). The medians are sorting
networks of element-wise minima and maxima over whole batches of windows
(torch), not per-cell sorts. Cost per 20-s window, one thread, four stems
(``benchmarks/bench_separators.py``, CPU time on a busy 2-core machine): about
70 ms for v2 against 640 ms for v1's stem audio and log-mels.

``offline:v3`` (:class:`SpanFeatureSeparator`) is
``offline:v2`` run once per span of overlapping windows (a 30-s clip's three
20-s windows are one 27-s span, read in mono at 22,050 Hz), each window taking
its frames of the span's features: about a third of the work on short tracks.

``offline:v4`` (:class:`FineSpanSeparator`) is ``offline:v3`` with the mel rows
of the paper's STFT (:data:`V4_PARAMS`: 512-point frames of 23 ms every 256
samples, as ``offline:v1``'s stem log-mels) instead of the 93-ms frames the
masks need: the masks and chroma rows are v3's; each bin of the short STFT
takes each stem's share of the masked power around it (:func:`band_shares`),
and the chroma rows are interpolated onto the short frames.

``offline:v5`` (:class:`LeakageSpanSeparator`, the built-in model's) is ``offline:v4``
with each short bin's shares weighted by the short window's own power response
(:func:`leakage_shares`: main lobe and side lobes down to -100 dB) instead of a flat
band, so a stem's side-lobe leakage shows in its mel rows as it does in the
short STFT of stem audio: a loud bass's leakage into 0.3-1 kHz, which v4 put
16-46 dB lower.

``offline:v7`` (:class:`V1MaskSpanSeparator`, the built-in model's) is ``offline:v5`` with
``offline:v1``'s way of making the masks (:func:`v1_grid_masks`): every 10.8-Hz bin and every
other frame of the 2048-point STFT (46 ms apart, v1's hop, no averaging of cells), HPSS medians
of 9 frames and 17 bins, REPET-SIM over the 15 most similar frames. Its stems tell valence as
``offline:v1``'s did, where ``offline:v5``'s did not (docs/model-card.md). (``offline:v6``, stem
audio from ``offline:v5``'s masks, was measured and never shipped.)

All are deterministic for a given machine; REPET-SIM's pick among frames that
are almost equally similar can follow floating-point rounding (BLAS, threads),
which moves rare cells of the vocals (mean change 0.001 dB when measured).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..features import MelParams, features_from_power, interpolate_frames, power_spectrogram, to_mono
from .base import SEPARATION_RATE, SOURCES, Separator, check_windows
from .medians import BLOCK_ELEMENTS, median, running_median

#: ``offline:v1`` STFT frame and hop at 44.1 kHz, in samples.
N_FFT = 4096
HOP = 2048
#: Bins analysed (0 .. 11025 Hz); higher bins copy the mean mask of 5.5-11 kHz.
N_ANALYSED = N_FFT // 4 + 1


class OfflineSeparator(Separator):
    """Weight-free vocals/drums/bass/other split (HPSS + REPET-SIM + a low-pass), on the CPU.

    An approximation of Demucs for machines without its weights; see the module
    docstring for the method. Measured cost per 20-s stereo window, one
    thread, on the 2-core development machine (librosa 0.11): 0.46 s with the
    machine otherwise idle (``benchmarks/bench_separators.py``; about 2 s wall
    with six busy processes sharing the two cores), about 40x faster than real
    time and roughly 25x cheaper than full-size HTDemucs.

    Parameters
    ----------
    device : accepted like every backend's; the work is always on the CPU.
    hpss_kernel : HPSS median-filter lengths ``(frames, bins)``: 9 frames of 46 ms
        (harmonic, along time), 17 bins of 10.8 Hz (percussive, along frequency).
    hpss_margin : HPSS margin; > 1 leaves the ambiguous energy to ``other``.
    repeat_seconds : REPET-SIM: similar frames must be at least this far apart (s).
    vocal_margin : REPET-SIM foreground margin (librosa's example uses 10; lower keeps more).
    bass_cutoff : Hz, crossover of the bass low-pass.
    vocal_highpass : Hz, below which nothing goes to vocals.
    neighbours : REPET-SIM: similar frames whose median models the background.
    """

    backend = "offline"
    variant = "v1"

    def __init__(
        self,
        *,
        device: str = "cpu",
        hpss_kernel: int | tuple[int, int] = (9, 17),
        hpss_margin: float = 1.0,
        repeat_seconds: float = 2.0,
        vocal_margin: float = 2.0,
        bass_cutoff: float = 250.0,
        vocal_highpass: float = 80.0,
        neighbours: int = 15,
    ):
        super().__init__(device)
        self.hpss_kernel = hpss_kernel
        self.hpss_margin = hpss_margin
        self.repeat_seconds = repeat_seconds
        self.vocal_margin = vocal_margin
        self.neighbours = neighbours
        freqs = np.fft.rfftfreq(N_FFT, 1.0 / SEPARATION_RATE)
        safe = np.maximum(freqs, 1.0)
        #: (bins, 1) smooth crossover weights.
        self._lowpass = (1.0 / (1.0 + (safe / bass_cutoff) ** 8))[:, None]
        self._highpass = (1.0 / (1.0 + (vocal_highpass / safe) ** 8))[:, None]

    def separate(self, windows: torch.Tensor, *, vocals: bool = True) -> dict[str, torch.Tensor]:
        """Split ``(batch, 2, n)`` float32 windows at 44.1 kHz into ``{source: (batch, 2, n)}``.

        ``vocals=False`` skips REPET-SIM (no vocals; for an accompaniment whose vocals are known).
        """
        import librosa

        check_windows(windows)
        x = windows.detach().to("cpu", torch.float32).numpy()
        n = x.shape[-1]
        out = {s: np.zeros_like(x) for s in SOURCES}
        for b in range(x.shape[0]):
            if not np.any(x[b]) or n < N_FFT:
                out["other"][b] = x[b]
                continue
            spec = librosa.stft(x[b], n_fft=N_FFT, hop_length=HOP)  # (2, bins, frames)
            masks = self._masks(np.abs(spec.mean(axis=0)), vocals)
            for name in ("vocals", "drums", "bass"):
                out[name][b] = librosa.istft(spec * masks[name], hop_length=HOP, n_fft=N_FFT, length=n)
            out["other"][b] = x[b] - out["vocals"][b] - out["drums"][b] - out["bass"][b]
        return {s: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for s, v in out.items()}

    def _masks(self, mag: np.ndarray, vocals: bool) -> dict[str, np.ndarray]:
        """Soft masks ``{vocals, drums, bass}`` of shape ``(bins, frames)`` from the downmix magnitude."""
        import librosa

        low = mag[:N_ANALYSED].astype(np.float32)
        frames = low.shape[1]
        harm, perc = librosa.decompose.hpss(
            low, kernel_size=self.hpss_kernel, mask=True, margin=self.hpss_margin
        )
        fore = np.zeros_like(low)
        width = min(int(round(self.repeat_seconds * SEPARATION_RATE / HOP)), (frames - 1) // 2 - 1)
        if vocals and width >= 1 and frames >= 8:
            h = low * harm + 1e-8  # the offset keeps cosine similarity defined on silent frames
            background = np.minimum(h, repeating_background(h, width, self.neighbours))
            fore = librosa.util.softmask(h - background, self.vocal_margin * background, power=2)
        harm, perc, fore = (_extend(m) for m in (harm, perc, fore))
        vocals = harm * fore * self._highpass
        masks = {
            "vocals": vocals,
            "drums": perc,
            "bass": (harm - vocals) * self._lowpass,
        }
        return {k: np.nan_to_num(v, nan=0.0).astype(np.float32) for k, v in masks.items()}


def _extend(mask: np.ndarray) -> np.ndarray:
    """Extend a ``(N_ANALYSED, frames)`` mask to all ``N_FFT // 2 + 1`` bins (mean of the top octave)."""
    top = mask[N_ANALYSED // 2 :].mean(axis=0, keepdims=True)
    rest = np.repeat(top, N_FFT // 2 + 1 - N_ANALYSED, axis=0)
    return np.concatenate([mask, rest], axis=0)


def repeating_background(mag: np.ndarray, width: int, neighbours: int = 15) -> np.ndarray:
    """REPET-SIM background: per frame, the median of its most similar frames.

    Same idea as ``librosa.decompose.nn_filter(mag, aggregate=np.median,
    metric="cosine", width=width)`` with a fixed neighbour count, vectorised
    (about 4x faster on a 20-s window).

    Parameters
    ----------
    mag : np.ndarray ``(bins, frames)``, non-negative magnitudes.
    width : frames closer than this to a frame are never its neighbours.
    neighbours : how many similar frames to take (capped by what ``width`` leaves).

    Returns
    -------
    np.ndarray ``(bins, frames)``, float32.
    """
    frames = mag.shape[1]
    unit = mag / (np.linalg.norm(mag, axis=0, keepdims=True) + 1e-12)
    sim = unit.T @ unit  # (frames, frames) cosine similarity
    idx = np.arange(frames)
    sim[np.abs(idx[:, None] - idx[None, :]) < width] = -np.inf
    k = int(min(neighbours, max(1, frames - 2 * width + 1)))
    if k >= frames:
        k = frames - 1
    nearest = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # (frames, k), deterministic ties
    if k % 2 == 0 and k > 1:
        k -= 1  # odd count: the median is one element, found by a partition
    gathered = mag[:, nearest[:, :k]]  # (bins, frames, k)
    return np.partition(gathered, k // 2, axis=-1)[..., k // 2].astype(np.float32)


#: Feature parameters of ``offline:v2``: 22050 Hz mono, FFT 2048, hop 512, 96 mel bands + 12 chroma.
V2_PARAMS = MelParams(n_fft=2048, hop_length=512, n_mels=96, n_chroma=12)
#: Feature parameters of ``offline:v4``: mel rows of the paper's STFT (512-point frames of 23 ms every
#: 256 samples, 11.6 ms), chroma rows (and masks) of ``offline:v3``'s (2048 points every 512 samples),
#: interpolated onto the mel rows' frames.
V4_PARAMS = MelParams(n_fft=512, hop_length=256, n_mels=96, n_chroma=12, chroma_n_fft=2048, chroma_hop_length=512)
#: Mask grid cell of ``offline:v2``: about 46 ms x 21.5 Hz (pooled STFT cells).
MASK_HOP_SECONDS = 2048 / 44100
MASK_BIN_HZ = 21.5
#: Median-filter length (cells) of HPSS, along time (harmonic) and frequency (percussive).
HPSS_CELLS = 9
#: REPET-SIM: similar frames must be at least this far apart (s); their median models the background.
REPEAT_SECONDS = 2.0
#: REPET-SIM neighbours whose median models the background (the 9-point median network).
NEIGHBOURS = 9
#: ``offline:v7``: ``offline:v1``'s HPSS median lengths (frames along time, bins along frequency) and
#: REPET-SIM neighbours.
V1_HPSS_KERNEL = (9, 17)
V1_NEIGHBOURS = 15
#: REPET-SIM foreground margin (librosa's example uses 10; lower keeps more).
VOCAL_MARGIN = 2.0
#: Hz: crossover of the bass low-pass, and below which nothing goes to vocals.
BASS_CUTOFF = 250.0
VOCAL_HIGHPASS = 80.0


class MaskedFeatureSeparator(Separator):
    """``offline:v2``: the stems' features straight from masks on one mono STFT (no stem audio).

    See the module docstring for the method. :meth:`stem_features` works for any
    :class:`MelParams` (the mask grid and filters are set in seconds and Hz);
    a model trained on it uses :data:`V2_PARAMS`. Runs on the CPU.
    """

    backend = "offline"
    variant = "v2"
    feature_params = V2_PARAMS
    cpu_threads = 1  # small tensor operations: a second thread mostly waits (docs/benchmarks.md)

    def __init__(self, *, device: str = "cpu"):
        super().__init__(device)

    def stem_features(
        self, windows: np.ndarray, sources: Sequence[str], params: MelParams
    ) -> dict[str, np.ndarray]:
        """``{source: float32 (batch, n_mels + n_chroma, frames)}`` of ``(batch, 2, n)`` 44.1-kHz windows."""
        check_windows(windows)
        return self._features(to_mono(windows, SEPARATION_RATE, params), sources, params)

    def _features(self, mono: np.ndarray, sources: Sequence[str], params: MelParams) -> dict[str, np.ndarray]:
        """Features of mono ``(B, n)`` audio at ``params.samplerate``.

        The masks come from the chroma rows' STFT (``params.chroma_stft``); with a shorter
        STFT for the mel rows (``offline:v4`` to ``offline:v7``), each of its bins gets each stem's
        share of the masked power around it (:meth:`_shares`), and the mel rows come from its power.
        """
        long = params.chroma_stft
        power = power_spectrogram(mono, long)  # (B, bins, T)
        short = power_spectrogram(mono, params) if long is not params else None
        out = {}
        if "mix" in sources:
            out["mix"] = features_from_power(power if short is None else short, params, power)
        stems = [s for s in sources if s != "mix"]
        if stems:
            masks, bins_per_cell = self._masks(power, long)
            order = [SOURCES.index(s) for s in stems]
            if order != list(range(len(SOURCES))):  # selecting copies; all four in order are the masks as made
                masks = masks[:, order]
            stem_power = masked_power(power, masks, bins_per_cell)
            if short is None:
                feats = features_from_power(stem_power, params)
            else:
                shares = self._shares(stem_power, power, long.n_fft // params.n_fft)
                gains = interpolate_frames(shares, long.hop_length // params.hop_length, short.shape[-1])
                feats = features_from_power(short.unsqueeze(1) * gains, params, stem_power)
            out.update({s: feats[:, i] for i, s in enumerate(stems)})
        return out

    @staticmethod
    def _masks(power: torch.Tensor, params: MelParams) -> tuple[torch.Tensor, int]:
        """Masks of the long STFT's power and the bins per mask row (:func:`stem_masks`)."""
        return stem_masks(power, params)

    @staticmethod
    def _shares(stem_power: torch.Tensor, power: torch.Tensor, ratio: int) -> torch.Tensor:
        """Each stem's share of each bin of an STFT ``ratio`` times shorter (:func:`band_shares`)."""
        return band_shares(stem_power, power, ratio)


class SpanFeatureSeparator(MaskedFeatureSeparator):
    """``offline:v3``: :class:`MaskedFeatureSeparator`'s masks and features, one analysis per span.

    The overlapping windows of a track (three 20-s windows of a 30-s clip cover
    60 s of audio but only 27 s of the track) are resampled, transformed and
    masked once, as one stretch of audio, and each window's features are its
    frames of the span's features: about a third of ``offline:v2``'s work on a
    30-s clip. REPET-SIM looks for similar frames over the whole span, and a
    window's edge frames see the audio around it, so the features differ from
    ``offline:v2``'s (a model is trained on one or the other).
    """

    variant = "v3"
    analyses_spans = True
    span_rate = V2_PARAMS.samplerate  # read at the features' rate: nothing to resample twice

    def span_features(
        self, span: np.ndarray, offsets: Sequence[int], length: int, sources: Sequence[str], params: MelParams
    ) -> dict[str, np.ndarray]:
        """``{source: float32 (len(offsets), n_mels + n_chroma, frames)}`` of the windows of one ``(channels, n)`` span.

        ``span`` is at :attr:`span_rate` Hz; ``offsets`` (samples) must fall on the hop of ``params``.
        """
        per_hop = params.hop_length * self.span_rate / params.samplerate
        starts = [o / per_hop for o in offsets]
        if any(s != int(s) for s in starts):
            raise ValueError(f"window offsets {list(offsets)} are not multiples of the {per_hop:g}-sample hop")
        check_windows(span[None])
        feats = self._features(to_mono(span[None], self.span_rate, params), sources, params)
        frames = params.frames(length / self.span_rate)
        return {s: np.stack([f[0, :, int(t) : int(t) + frames] for t in starts]) for s, f in feats.items()}


class FineSpanSeparator(SpanFeatureSeparator):
    """``offline:v4``: :class:`SpanFeatureSeparator` with the features of :data:`V4_PARAMS`.

    The masks and chroma rows are those of ``offline:v3`` (a 2048-point STFT every
    512 samples; masks on a 21.5 Hz x 46 ms grid); the mel rows come from a
    512-point STFT of the same span every 256 samples, each bin scaled by each
    stem's share of the masked power around it: the time resolution of
    ``offline:v1``'s log-mels (23-ms frames every 11.6 ms) without its stem audio.
    """

    variant = "v4"
    feature_params = V4_PARAMS


class LeakageSpanSeparator(FineSpanSeparator):
    """``offline:v5``: :class:`FineSpanSeparator` with shares weighted by the short window's response.

    A 512-point Hann frame leaks a loud bin's power into bins far from it (-32 dB 2.5
    bins away, -80 dB at 14.5, -100 dB at 32.5); stem audio analysed with it
    (``offline:v1``) shows that leakage, ``offline:v4``'s flat ±1-bin shares cut it
    off, so a loud bass's rows lay 16-46 dB below its own audio's at 0.3-1 kHz. Here
    each short bin takes each stem's power weighted by that response (:func:`leakage_shares`).
    """

    variant = "v5"

    @staticmethod
    def _shares(stem_power: torch.Tensor, power: torch.Tensor, ratio: int) -> torch.Tensor:
        return leakage_shares(stem_power, power, ratio)


class V1MaskSpanSeparator(LeakageSpanSeparator):
    """``offline:v7``: :class:`LeakageSpanSeparator` with ``offline:v1``'s masks on ``offline:v1``'s grid.

    The masks are those of :func:`v1_grid_masks`: every 10.8-Hz bin of the 2048-point
    STFT (``offline:v5`` averages two) and every other 23-ms frame (46 ms apart, as
    v1's hop), HPSS medians of 9 frames and 17 bins, REPET-SIM over 15 frames (v5: 9
    cells each way, 9 frames). Everything else is ``offline:v5``'s.
    """

    variant = "v7"

    @staticmethod
    def _masks(power: torch.Tensor, params: MelParams) -> tuple[torch.Tensor, int]:
        return v1_grid_masks(power, params)


def stem_masks(power: torch.Tensor, params: MelParams) -> tuple[torch.Tensor, int]:
    """Soft masks of a mono power spectrogram, one row per mask-grid cell of ``bins_per_cell`` bins.

    ``power``: ``(B, bins, T)`` at ``params.samplerate`` with ``params.hop_length``.
    Returns the masks ``(B, 4, Fg, T)`` of :data:`SOURCES` in [0, 1], summing to 1, at
    full time resolution (linear interpolation between grid frames), and
    ``bins_per_cell`` (:func:`masked_power` applies a row to all bins of its cell).
    """
    bins = power.shape[-2]
    bin_hz = params.samplerate / params.n_fft
    pool = (max(1, round(MASK_BIN_HZ / bin_hz)), max(1, round(MASK_HOP_SECONDS * params.frame_rate)))
    mag = _cell_means(power, pool).sqrt()  # (B, Fg, Tg) magnitude
    harm, perc = _softmask(running_median(mag, -1, HPSS_CELLS), running_median(mag, -2, HPSS_CELLS))
    fore = _repet_foreground(mag * harm + 1e-8, params.frame_rate / pool[1], NEIGHBOURS)
    centres = ((torch.arange(mag.shape[-2], dtype=torch.float32) + 0.5) * pool[0] - 0.5).clamp(0, bins - 1)
    grid = _stems(harm, perc, fore, centres * bin_hz)  # (B, 4, Fg, Tg), frequencies at each cell's centre
    return _upsample_time(grid, pool[1])[..., : power.shape[-1]], pool[0]


def v1_grid_masks(power: torch.Tensor, params: MelParams) -> tuple[torch.Tensor, int]:
    """``offline:v1``'s masks, on its grid, from a mono power spectrogram: as :func:`stem_masks`, one row per bin.

    The grid is every bin of ``power`` ``(B, bins, T)`` (10.8 Hz for :data:`V2_PARAMS`) and
    every ``step``-th frame (:data:`MASK_HOP_SECONDS`: 46 ms); HPSS medians of
    :data:`V1_HPSS_KERNEL` (frames, bins), mirrored at the edges, and REPET-SIM over
    :data:`V1_NEIGHBOURS` frames, as ``offline:v1``. Returns ``(B, 4, bins, T)`` and 1.
    """
    bins, frames = power.shape[-2:]
    step = max(1, round(MASK_HOP_SECONDS * params.frame_rate))
    mag = power[..., ::step].sqrt()  # (B, bins, Tg) magnitude
    along_time, along_freq = V1_HPSS_KERNEL
    harm, perc = _softmask(running_median(mag, -1, along_time, "reflect"),
                           running_median(mag, -2, along_freq, "reflect"))
    fore = _repet_foreground(mag * harm + 1e-8, params.frame_rate / step, V1_NEIGHBOURS)
    grid = _stems(harm, perc, fore, torch.arange(bins, dtype=torch.float32) * (params.samplerate / params.n_fft))
    return interpolate_frames(grid, step, frames), 1


def _stems(harm: torch.Tensor, perc: torch.Tensor, fore: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Masks ``(B, 4, F, T)`` of :data:`SOURCES` from the HPSS and REPET-SIM masks ``(B, F, T)``; ``freqs`` ``(F,)`` Hz.

    Vocals: the harmonic foreground above :data:`VOCAL_HIGHPASS`; drums: the percussive part;
    bass: the rest of the harmonic part below :data:`BASS_CUTOFF`; other: what is left.
    """
    freqs = freqs.clamp_min(1.0)[:, None]
    vocals = harm * fore / (1 + (VOCAL_HIGHPASS / freqs) ** 8)
    bass = (harm - vocals) / (1 + (freqs / BASS_CUTOFF) ** 8)
    other = (1 - vocals - perc - bass).clamp(0.0, 1.0)
    return torch.stack([vocals, perc, bass, other], dim=1)


def masked_power(power: torch.Tensor, masks: torch.Tensor, bins_per_cell: int) -> torch.Tensor:
    """Stem powers ``power * mask**2``: ``(B, S, Fg * bins_per_cell, T)``, zero in the padding bins.

    ``power`` ``(B, bins, T)``; ``masks`` ``(B, S, Fg, T)``, each row over the bins of its cell.
    ``masks`` is overwritten: with its squares, or with the stem powers where a cell is one bin.
    """
    gains = masks.square_()
    if bins_per_cell == 1:
        return gains.mul_(power.unsqueeze(1))
    batch, bins, frames = power.shape
    cells = masks.shape[-2]
    padded = F.pad(power, (0, 0, 0, cells * bins_per_cell - bins)).view(batch, 1, cells, bins_per_cell, frames)
    return (padded * gains.unsqueeze(-2)).view(batch, masks.shape[1], -1, frames)


def band_shares(stem_power: torch.Tensor, power: torch.Tensor, ratio: int) -> torch.Tensor:
    """Each stem's share of the power around each bin of an STFT ``ratio`` times shorter.

    ``stem_power`` ``(B, S, bins', T)`` (:func:`masked_power`) and ``power`` ``(B, bins, T)``
    are on the long STFT; a bin ``k`` of the short one is at long bin ``k * ratio`` and
    sees the long bins within ``ratio`` of it (about its main lobe), so its share is
    the stems' power over the mixture's power there. Shares of all stems add up to at
    most 1; 0 where there is no power. Returns ``(B, S, (bins - 1) // ratio + 1, T)``.
    """
    bins = (power.shape[-2] - 1) // ratio + 1
    return _share_of(_around(stem_power, ratio, bins), _around(power.unsqueeze(1), ratio, bins))


def leakage_shares(stem_power: torch.Tensor, power: torch.Tensor, ratio: int) -> torch.Tensor:
    """Each stem's share of each bin of an STFT ``ratio`` times shorter, weighted by the short window's response.

    As :func:`band_shares`, but a short bin ``k`` sees every group of ``ratio`` long bins
    ``m * ratio .. m * ratio + ratio - 1``, weighted by the power response of the short
    (Hann) window at their distance from ``k * ratio`` (:func:`leakage_matrix`): the stems'
    weighted power over the mixture's. Returns ``(B, S, (bins - 1) // ratio + 1, T)``,
    shares of all stems adding up to at most 1; 0 where there is no power.
    """
    bins = (power.shape[-2] - 1) // ratio + 1
    weights, reach = leakage_matrix(power.shape[-2], ratio)
    blocks = torch.cat([_blocks(stem_power[..., : power.shape[-2], :], ratio, bins),
                        _blocks(power, ratio, bins).unsqueeze(1)], dim=1)  # (B, S + 1, bins, T)
    seen = torch.empty_like(blocks)
    chunk = 32  # the matrix is banded: a run of output bins reads only the blocks within reach of it
    for lo in range(0, bins, chunk):
        hi, first, last = min(bins, lo + chunk), max(0, lo - reach), min(bins, lo + chunk + reach)
        seen[..., lo:hi, :] = weights[lo:hi, first:last] @ blocks[..., first:last, :]
    return _share_of(seen[:, :-1], seen[:, -1:])


def _share_of(stems: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """``stems / total``, at most 1, and 0 where ``total`` is 0 (the stems' power is then 0 too)."""
    return (stems / total.clamp_min(torch.finfo(total.dtype).tiny)).clamp(max=1.0)


@lru_cache(maxsize=4)
def leakage_matrix(long_bins: int, ratio: int, floor_db: float = -100.0) -> tuple[torch.Tensor, int]:
    """Weights ``W`` ``(bins, bins)`` of :func:`leakage_shares` and their reach (groups either side).

    ``W[k, m]`` is the mean power response, relative to its peak, of a periodic Hann window
    ``ratio`` times shorter than the long STFT's (``2 * (long_bins - 1)`` points) at the long bins
    ``m * ratio .. m * ratio + ratio - 1``, centred on long bin ``k * ratio``; 0 under ``floor_db``.
    For 512 points against 2048, the reach is 32 groups (1.4 kHz at 22,050 Hz).
    """
    n_long = 2 * (long_bins - 1)
    response = np.abs(np.fft.rfft(np.hanning(n_long // ratio + 1)[:-1], n_long)) ** 2
    response /= response[0]
    response[response < 10 ** (floor_db / 10)] = 0.0
    reach = int(np.flatnonzero(response)[-1]) // ratio + 1
    bins = (long_bins - 1) // ratio + 1
    groups = np.arange(bins)
    offsets = np.abs((groups[None, :] - groups[:, None])[..., None] * ratio + np.arange(ratio))  # (k, m, ratio)
    weights = response[np.minimum(offsets, len(response) - 1)].mean(axis=-1)
    return torch.from_numpy(weights.astype(np.float32)), reach


def _blocks(x: torch.Tensor, ratio: int, bins: int) -> torch.Tensor:
    """Sums of ``x`` ``(..., F, T)`` over rows ``m * ratio .. m * ratio + ratio - 1``, for ``m < bins``."""
    full = x.shape[-2] // ratio
    blocks = x[..., : full * ratio, :].unflatten(-2, (full, ratio)).sum(-2)  # (..., full, T)
    if x.shape[-2] > full * ratio:
        blocks = torch.cat([blocks, x[..., full * ratio :, :].sum(-2, keepdim=True)], dim=-2)
    return blocks[..., :bins, :]


def _around(x: torch.Tensor, ratio: int, bins: int) -> torch.Tensor:
    """Sums of ``x`` ``(..., F, T)`` over rows ``k * ratio - ratio .. k * ratio + ratio - 1``, for ``k < bins``."""
    blocks = _blocks(x, ratio, bins)
    out = blocks.clone()
    out[..., 1:, :] += blocks[..., : bins - 1, :]
    return out


def _cell_means(x: torch.Tensor, pool: tuple[int, int]) -> torch.Tensor:
    """Means of ``x`` ``(B, F, T)`` over cells of ``pool = (bins, frames)``: ``(B, ceil(F / bins), ceil(T / frames))``.

    Cells over the edge average what is inside them, as ``F.avg_pool2d(x, pool, ceil_mode=True)``;
    summed by strided views, about 4x faster than it.
    """
    (bins, frames), (rows, cols) = pool, x.shape[-2:]
    padded = F.pad(x, (0, -cols % frames, 0, -rows % bins))
    total = sum(padded[..., i::bins, j::frames] for i in range(bins) for j in range(frames))
    inside_rows = torch.arange(0, rows, bins).neg_().add_(rows).clamp_(max=bins)  # bins inside each cell row
    inside_cols = torch.arange(0, cols, frames).neg_().add_(cols).clamp_(max=frames)
    return total / (inside_rows[:, None] * inside_cols).to(x.dtype)


def _upsample_time(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Linear interpolation ``(..., Tg) -> (..., Tg * factor)`` between cell centres (edges held)."""
    if factor == 1:
        return x
    return F.interpolate(x.flatten(0, -3), scale_factor=factor, mode="linear",
                         align_corners=False).view(*x.shape[:-1], -1)


def _softmask(x: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Wiener-like masks ``x**2 / (x**2 + (margin*y)**2)`` and its counterpart; 0 where both are 0.

    As ``librosa.util.softmask(power=2)``: scaled by the larger value first, so nothing underflows.
    """
    y = margin * y
    scale = torch.maximum(x, y)
    silent = scale < torch.finfo(x.dtype).tiny
    scale = torch.where(silent, torch.ones_like(scale), scale)
    x2, y2 = (x / scale).square(), (y / scale).square()
    total = x2 + y2
    zero = torch.zeros_like(total)
    return torch.where(silent, zero, x2 / total), torch.where(silent, zero, y2 / total)


def _repet_foreground(h: torch.Tensor, grid_rate: float, neighbours: int) -> torch.Tensor:
    """REPET-SIM foreground mask ``(B, F, T)`` of positive magnitudes ``h`` ``(B, F, T)``; 0 if too short.

    Per frame, the background is the median of the ``neighbours`` (odd) most similar
    frames (cosine similarity, at least :data:`REPEAT_SECONDS` away), batched over windows.
    The neighbours are gathered and their median taken for a block of frames at a time
    (:data:`~.medians.BLOCK_ELEMENTS` per neighbour), so that they stay in the CPU's cache
    (2-3x faster on a 27-s span).
    """
    batch, bins, frames = h.shape
    width = min(int(round(REPEAT_SECONDS * grid_rate)), (frames - 1) // 2 - 1)
    if width < 1 or frames - 2 * width + 1 < neighbours:
        return torch.zeros_like(h)
    rows = h.transpose(1, 2).contiguous()  # (B, T, F): a frame's bins are one row, cheap to gather
    unit = rows / rows.norm(dim=2, keepdim=True)
    sim = unit @ unit.transpose(1, 2)  # (B, T, T)
    idx = torch.arange(frames)
    sim.masked_fill_((idx[:, None] - idx[None, :]).abs() < width, -torch.inf)
    nearest = torch.topk(sim, neighbours, dim=-1, sorted=False).indices  # (B, T, k); the median ignores order
    background = torch.empty_like(rows)
    block = max(1, BLOCK_ELEMENTS // bins)
    for b in range(batch):
        for lo in range(0, frames, block):
            chunk = nearest[b, lo : lo + block].T  # (k, c)
            similar = rows[b].index_select(0, chunk.flatten()).view(*chunk.shape, bins)  # (k, c, F)
            background[b, lo : lo + block] = median(similar.unbind(0))
    background = torch.minimum(h, background.transpose(1, 2))
    return _softmask(h - background, background, VOCAL_MARGIN)[0]
