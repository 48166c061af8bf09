"""The feature-output offline separators ``offline:v2`` to ``offline:v7``: a registry of settings, one class.

Each variant is a :class:`Variant` in :data:`VARIANTS`, read by :class:`MaskedFeatureSeparator`; adding a
variant is adding an entry. None makes stem audio (that is ``offline:v1``, :mod:`.offline`). A window or a
span is downmixed and resampled once to 22,050 Hz mono; one 2048-point STFT (10.8-Hz bins, hop 512, 43
frames/s) gives the masks (:mod:`.masks`, on the variant's :class:`~.masks.MaskGrid`) and the chroma rows,
and each stem's log-mel and chroma come from its masked power ``|X|**2 * mask**2``
(:func:`~emomucs_core.features.features_from_power`). Where the variant's mel rows have their own shorter
STFT (:data:`V4_PARAMS`: 512-point frames of 23 ms every 11.6 ms, as ``offline:v1``'s stem log-mels), each of
its bins takes each stem's share of the masked power around it (:mod:`.shares`), and the chroma rows are
interpolated onto its frames. A span variant analyses the overlapping windows of a track once, as one
stretch of audio (a 30-s clip's three 20-s windows are one 27-s span), and each window takes its frames of
the span's features: about a third of the work on short tracks, and REPET-SIM looks for similar frames over
the whole span (so a model is trained on one or the other).

All are deterministic for a given machine; REPET-SIM's pick among frames that are almost equally similar
can follow floating-point rounding (BLAS, threads), which moves rare cells of the vocals (mean change 0.001
dB when measured). How each variant came to be and what it measured: docs/model-card.md; ``offline:v6``
(stem audio from ``offline:v5``'s masks) was measured and never shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..features import MelParams, features_from_power, interpolate_frames, power_spectrogram, to_mono
from .base import SEPARATION_RATE, SOURCES, Separator, UnknownSeparator, check_windows
from .masks import BINS, CELLS, MaskGrid
from .shares import band_shares, leakage_shares, masked_power

#: Features of ``offline:v2`` and ``offline:v3``: 22050 Hz mono, FFT 2048, hop 512, 96 mel bands + 12 chroma.
V2_PARAMS = MelParams(n_fft=2048, hop_length=512, n_mels=96, n_chroma=12)
#: Features of ``offline:v4`` on: mel rows of the paper's STFT (512-point frames of 23 ms every 256 samples,
#: 11.6 ms), chroma rows (and masks) of the 2048-point STFT every 512 samples, interpolated onto the mel frames.
V4_PARAMS = MelParams(n_fft=512, hop_length=256, n_mels=96, n_chroma=12, chroma_n_fft=2048, chroma_hop_length=512)
#: How a bin of the shorter mel STFT takes each stem's power: ±1 long bin, flat, or weighted by the short
#: window's response (side lobes down to -100 dB).
SHARES = {"band": band_shares, "leakage": leakage_shares}


@dataclass(frozen=True)
class Variant:
    """Settings of one feature-output offline separator.

    ``params``: the features a model trained on it uses (the masks are made on ``params.chroma_stft``);
    ``grid``: where and how the masks are estimated; ``shares``: a :data:`SHARES` key, used where the mel
    rows have a shorter STFT than the masks; ``spans``: a track's overlapping windows analysed as one span.
    """

    params: MelParams
    grid: MaskGrid
    shares: str = "band"
    spans: bool = True


#: ``offline:<key>`` -> its settings.
VARIANTS: dict[str, Variant] = {
    # masks and features on one 2048-point STFT per window (about 40 ms per 20-s window against v1's 590)
    "v2": Variant(V2_PARAMS, CELLS, spans=False),
    # v2 once per span
    "v3": Variant(V2_PARAMS, CELLS),
    # v3's masks and chroma; mel rows of the 512-point STFT
    "v4": Variant(V4_PARAMS, CELLS),
    # v4 with the short window's leakage in the shares (the last release's built-in model)
    "v5": Variant(V4_PARAMS, CELLS, shares="leakage"),
    # v5 with offline:v1's masks on its grid (the built-in model's)
    "v7": Variant(V4_PARAMS, BINS, shares="leakage"),
}


class MaskedFeatureSeparator(Separator):
    """The stems' features straight from masks on one mono STFT (no stem audio), as set by a :class:`Variant`.

    ``model`` is the key of :data:`VARIANTS`. :meth:`stem_features` takes windows one by one and works for
    any :class:`MelParams` (the mask grid and filters are set in seconds and Hz); :meth:`span_features`
    (span variants) the windows of one span. Runs on the CPU.
    """

    backend = "offline"
    cpu_threads = 1  # small tensor operations: a second thread mostly waits (docs/benchmarks.md)
    span_rate = V2_PARAMS.samplerate  # spans are read at the features' rate: nothing to resample twice

    def __init__(self, model: str = "v7", *, device: str = "cpu"):
        super().__init__(device)
        if model not in VARIANTS:
            raise UnknownSeparator(f"offline:{model}", [f"offline:{k}" for k in VARIANTS])
        self.variant = model
        self.settings = VARIANTS[model]
        self.feature_params = self.settings.params
        self.analyses_spans = self.settings.spans

    @classmethod
    def params_of(cls, model: str) -> MelParams:
        return VARIANTS[model].params

    def stem_features(
        self, windows: np.ndarray, sources: Sequence[str], params: MelParams
    ) -> dict[str, np.ndarray]:
        """``{source: float32 (batch, n_mels + n_chroma, frames)}`` of ``(batch, 2, n)`` 44.1-kHz windows."""
        check_windows(windows)
        return self._features(to_mono(windows, SEPARATION_RATE, params), sources, params)

    def span_features(
        self, span: np.ndarray, offsets: Sequence[int], length: int, sources: Sequence[str], params: MelParams
    ) -> dict[str, np.ndarray]:
        """``{source: float32 (len(offsets), n_mels + n_chroma, frames)}`` of the windows of one ``(channels, n)`` span.

        ``span`` is at :attr:`span_rate` Hz; ``offsets`` (samples) must fall on the hop of ``params``.
        """
        if not self.analyses_spans:
            return super().span_features(span, offsets, length, sources, params)
        per_hop = params.hop_length * self.span_rate / params.samplerate
        starts = [o / per_hop for o in offsets]
        if any(s != int(s) for s in starts):
            raise ValueError(f"window offsets {list(offsets)} are not multiples of the {per_hop:g}-sample hop")
        check_windows(span[None])
        feats = self._features(to_mono(span[None], self.span_rate, params), sources, params)
        frames = params.frames(length / self.span_rate)
        return {s: np.stack([f[0, :, int(t) : int(t) + frames] for t in starts]) for s, f in feats.items()}

    def _features(self, mono: np.ndarray, sources: Sequence[str], params: MelParams) -> dict[str, np.ndarray]:
        """Features of mono ``(B, n)`` audio at ``params.samplerate``.

        The masks come from the chroma rows' STFT (``params.chroma_stft``); with a shorter STFT for the
        mel rows, each of its bins gets each stem's share of the masked power around it
        (:data:`SHARES`), and the mel rows come from its power.
        """
        long = params.chroma_stft
        power = power_spectrogram(mono, long)  # (B, bins, T)
        short = power_spectrogram(mono, params) if long is not params else None
        out = {}
        if "mix" in sources:
            out["mix"] = features_from_power(power if short is None else short, params, power)
        stems = [s for s in sources if s != "mix"]
        if stems:
            masks, bins_per_cell = self.settings.grid.masks(power, long)
            order = [SOURCES.index(s) for s in stems]
            if order != list(range(len(SOURCES))):  # selecting copies; all four in order are the masks as made
                masks = masks[:, order]
            stem_power = masked_power(power, masks, bins_per_cell)
            if short is None:
                feats = features_from_power(stem_power, params)
            else:
                shares = SHARES[self.settings.shares](stem_power, power, long.n_fft // params.n_fft)
                gains = interpolate_frames(shares, long.hop_length // params.hop_length, short.shape[-1])
                feats = features_from_power(short.unsqueeze(1) * gains, params, stem_power)
            out.update({s: feats[:, i] for i, s in enumerate(stems)})
        return out
