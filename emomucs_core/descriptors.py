"""Global descriptors of a feature window: timbre, modulation, rhythm and harmony statistics.

The descriptor branch of a source model (``NetConfig.descriptors``) summarises
its whole 20-s window in a few hundred numbers, computed from the same feature
rows as the CNN, in torch, so training and inference share one code path and a
bundle needs nothing else. A window is ``(B, n_mels + n_chroma, T)``: rows
``[:n_mels]`` log-mel in dB, rows ``[n_mels:]`` chroma power in dB (C, C#, ..., B).

Groups computed from the log-mel rows (:data:`TIMBRE_GROUPS`, 260 values with 96 bands):

- ``mfcc``: MFCC 1-20 (orthonormal DCT-II of the log-mel frame) as mean, std and
  mean absolute frame-to-frame change over time (60);
- ``flux``: mean absolute frame-to-frame change of every mel band (n_mels);
- ``modulation``: log modulation energy of 16 pooled mel bands in 6 octave bands
  of modulation frequency, 0.25-16 Hz (96);
- ``rhythm``: loudness mean, std and 10/50/90th percentiles, onset-strength std,
  and the height and lag (s) of the onset autocorrelation peak between 50 and
  200 BPM (8).

Groups computed from the chroma rows (:data:`TONAL_GROUPS`, 55 values; key-invariant):

- ``chroma``: mean and std over time of the frame-normalised chroma, rotated so
  that the window's estimated tonic comes first (scale-degree profile, 24);
- ``key``: Krumhansl-Schmuckler key profiles correlated with the mean chroma of
  the window and of ~3-s segments: best major and best minor correlation, key
  strength, mode clarity (major minus minor); over segments the mean and std of
  clarity, mean strength and the share of segments in the window's key (8);
- ``tonnetz``: tonal centroid (Harte et al. 2006; fifths, minor and major thirds):
  the length of the mean centroid on each circle, the mean per-frame length on
  each circle, and the harmonic change rate (mean and std of the centroid's
  movement per ~0.25 s step) (8);
- ``dissonance``: a roughness estimate from the chroma's interval content: per
  frame ``sum_{i<j} c_i c_j w(interval)`` over the normalised chroma with
  interval-class weights :data:`INTERVAL_ROUGHNESS`, mean, std and 90th percentile,
  and the window's mean interval-class vector (6) (9);
- ``salience``: pitch salience as chroma peakiness: per frame the largest share,
  the normalised entropy and the flatness, mean and std of each (6).

The chroma groups read at most :data:`TONAL_FRAME_RATE` frames per second: finer
chroma rows (``offline:v4``'s and ``v5``'s, interpolated onto 11.6-ms frames) are read every
``round(frame_rate / TONAL_FRAME_RATE)``-th frame, which for them are
exactly the frames of their 2048-point chroma STFT. Harmony changes far slower.

Parts that need a longer window than given (a modulation band with no frequency
bin, a beat period longer than the window) are 0 before the log / as peak and lag.
A silent window gives a flat chroma: correlations are 0, never NaN.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from .profiling import stage

#: Bumped whenever a descriptor's computation changes (keys of stored descriptor tables).
VERSION = 3
N_MFCC = 20
MOD_BANDS = 16
#: Edges (Hz) of the modulation-frequency bands.
MOD_EDGES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
#: Floor (dB) under which log-mel values count as silence.
FLOOR_DB = -80.0
#: Onset-autocorrelation lags searched for the beat period: 200 to 50 BPM (s).
BEAT_LAGS = (60 / 200, 60 / 50)
#: Groups from the log-mel rows (the descriptors of bundles without ``descriptor_groups``).
TIMBRE_GROUPS = ("mfcc", "flux", "modulation", "rhythm")
#: Groups from the chroma rows (need ``n_chroma == 12``).
TONAL_GROUPS = ("chroma", "key", "tonnetz", "dissonance", "salience")
#: Groups from a pretrained network run on the log-mel rows (:mod:`~emomucs_core.extractors.musicnn`):
#: musicnn's (MSD) penultimate layer and its 50 Last.fm tag probabilities on the window's central 3 s.
EXTRACTOR_GROUPS = ("musicnn", "musicnn_tags")
GROUPS = TIMBRE_GROUPS + TONAL_GROUPS + EXTRACTOR_GROUPS
N_CHROMA = 12
#: Krumhansl-Kessler probe-tone profiles (Krumhansl 1990), tonic first.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
#: Seconds per segment of the segment-level key statistics.
KEY_SEGMENT_SECONDS = 3.0
#: Seconds per step of the harmonic change rate.
CHANGE_STEP_SECONDS = 0.25
#: Roughness of interval classes 1..6 (m2/M7, M2/m7, m3/M6, M3/m6, P4/P5, tritone), after
#: the usual consonance ranking (Malmberg 1918; Huron 1994), scaled to [0, 1].
INTERVAL_ROUGHNESS = (1.0, 0.6, 0.25, 0.15, 0.05, 0.5)
#: Frames per second the chroma groups read at most (hop 512 at 22,050 Hz).
TONAL_FRAME_RATE = 22050 / 512
#: Frames whose chroma energy is below this (dB) carry no harmony (weight 0).
CHROMA_FLOOR_DB = -70.0


def group_sizes(n_mels: int) -> dict[str, int]:
    """Number of values of every descriptor group with ``n_mels`` mel bands."""
    return {"mfcc": 3 * N_MFCC, "flux": n_mels, "modulation": MOD_BANDS * (len(MOD_EDGES) - 1), "rhythm": 8,
            "chroma": 2 * N_CHROMA, "key": 8, "tonnetz": 8, "dissonance": 9, "salience": 6,
            "musicnn": 200, "musicnn_tags": 50}


def check_groups(groups: tuple[str, ...], n_chroma: int) -> tuple[str, ...]:
    """``groups`` in canonical order (:data:`GROUPS`); ValueError on unknown ones or tonal groups without chroma."""
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown descriptor groups {unknown}; known: {list(GROUPS)}")
    if n_chroma != N_CHROMA and any(g in TONAL_GROUPS for g in groups):
        raise ValueError(f"tonal descriptor groups need {N_CHROMA} chroma rows, the features have {n_chroma}")
    if not groups:
        raise ValueError("at least one descriptor group is needed")
    return tuple(g for g in GROUPS if g in groups)


def descriptor_size(n_mels: int, groups: tuple[str, ...] = TIMBRE_GROUPS) -> int:
    """Number of descriptor values for ``n_mels`` mel bands and ``groups``."""
    sizes = group_sizes(n_mels)
    return sum(sizes[g] for g in groups)


@lru_cache(maxsize=8)  # constants: built once, never modified
def dct_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``(n_out, n_in)`` (as ``scipy.fft.dct(norm="ortho")``)."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    m = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2 / n_in)
    m[0] /= math.sqrt(2)
    return m.float()


def window_descriptors(
    features: torch.Tensor, frame_rate: float, groups: tuple[str, ...] = TIMBRE_GROUPS, n_mels: int | None = None,
    samplerate: int = 22050,
) -> torch.Tensor:
    """Descriptors of feature windows ``(B, n_mels [+ 12], T)`` in dB: ``(B, descriptor_size(n_mels, groups))``.

    ``frame_rate``: frames per second (Hz). ``n_mels``: log-mel rows (default: all rows);
    the rows after them are chroma. ``samplerate``: the features' (their mel bands reach half of it;
    read by the :data:`EXTRACTOR_GROUPS` only). Values come in the canonical order of :data:`GROUPS`.
    """
    n_mels = features.shape[1] if n_mels is None else n_mels
    groups = check_groups(tuple(groups), features.shape[1] - n_mels)
    out: dict[str, torch.Tensor] = {}
    if any(g in TIMBRE_GROUPS for g in groups):
        with stage("descriptors: timbre, rhythm"):
            out.update(_timbre(features[:, :n_mels], frame_rate))
    if any(g in TONAL_GROUPS for g in groups):
        step = max(1, round(frame_rate / TONAL_FRAME_RATE))
        with stage("descriptors: harmony"):
            out.update(_tonal(features[:, n_mels:, ::step], frame_rate / step))
    if any(g in EXTRACTOR_GROUPS for g in groups):
        from .extractors.musicnn import window_embeddings
        from .features import MelParams

        params = MelParams(samplerate=samplerate, hop_length=round(samplerate / frame_rate), n_mels=n_mels)
        with stage("extractor: musicnn"):
            emb = window_embeddings(features[:, :n_mels], params)
        out["musicnn"], out["musicnn_tags"] = emb[:, :200], emb[:, 200:]
    return torch.cat([out[g] for g in groups], dim=-1)


def _timbre(logmel: torch.Tensor, frame_rate: float) -> dict[str, torch.Tensor]:
    """The log-mel groups of ``(B, n_mels, T)`` dB windows: ``{group: (B, size)}``."""
    x = logmel.float().clamp_min(FLOOR_DB)
    n_mels = x.shape[1]
    change = x.diff(dim=-1)

    mfcc = dct_matrix(N_MFCC, n_mels).to(x.device) @ x  # (B, 20, T)
    timbre = torch.cat([mfcc.mean(-1), mfcc.std(-1, unbiased=False), mfcc.diff(dim=-1).abs().mean(-1)], dim=-1)

    bands = F.adaptive_avg_pool1d(x.transpose(1, 2), MOD_BANDS).transpose(1, 2)  # (B, 16, T)
    bands = bands - bands.mean(-1, keepdim=True)
    spectrum = torch.fft.rfft(bands, dim=-1).abs() / bands.shape[-1]
    freqs = torch.fft.rfftfreq(bands.shape[-1], 1 / frame_rate).to(x.device)
    in_band = torch.stack([(freqs >= lo) & (freqs < hi) for lo, hi in zip(MOD_EDGES[:-1], MOD_EDGES[1:])], -1)
    modulation = spectrum @ in_band.float() / in_band.sum(0).clamp_min(1)  # (B, 16, 6); 0 if no bin
    modulation = (modulation + 1e-6).log().flatten(1)

    loud = x.mean(1)
    onset = change.clamp_min(0).mean(1)
    onset = onset - onset.mean(-1, keepdim=True)
    auto = _autocorrelation(onset)
    lags = torch.arange(auto.shape[-1], device=x.device) / frame_rate
    beat = (lags > BEAT_LAGS[0]) & (lags < BEAT_LAGS[1])
    peak, where = torch.where(beat, auto, -math.inf).max(dim=-1)
    if not beat.any():  # window shorter than a beat period
        peak, where = torch.zeros_like(peak), torch.zeros_like(where)
    rhythm = torch.stack(
        [loud.mean(-1), loud.std(-1, unbiased=False),
         *torch.quantile(loud, torch.tensor([0.1, 0.5, 0.9], device=x.device), dim=-1),
         onset.std(-1, unbiased=False), peak, lags[where]],
        dim=-1,
    )
    return {"mfcc": timbre, "flux": change.abs().mean(-1), "modulation": modulation, "rhythm": rhythm}


def _autocorrelation(x: torch.Tensor) -> torch.Tensor:
    """Autocorrelation of ``(B, T)`` at lags ``0..T-1``, normalised by lag 0."""
    n = x.shape[-1]
    spec = torch.fft.rfft(x, n=2 * n, dim=-1)
    auto = torch.fft.irfft(spec.abs() ** 2, n=2 * n, dim=-1)[:, :n]
    return auto / (auto[:, :1] + 1e-9)


# -- harmony -------------------------------------------------------------------------
@lru_cache(maxsize=8)  # constants: built once, never modified
def key_profiles() -> torch.Tensor:
    """The 24 key profiles ``(24, 12)``: C, C#, ..., B major, then C, ..., B minor (pitch classes C..B)."""
    rows = [torch.tensor(p).roll(k) for p in (MAJOR_PROFILE, MINOR_PROFILE) for k in range(N_CHROMA)]
    return torch.stack(rows).float()


def key_correlations(chroma: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of chroma vectors ``(..., 12)`` with the 24 key profiles: ``(..., 24)``.

    A flat chroma (silence) correlates 0 with every key.
    """
    x = chroma - chroma.mean(-1, keepdim=True)
    p = key_profiles().to(chroma.device)
    p = p - p.mean(-1, keepdim=True)
    num = x @ p.T
    return num / (x.norm(dim=-1, keepdim=True) * p.norm(dim=-1) + 1e-9)


@lru_cache(maxsize=8)  # constants: built once, never modified
def tonal_centroid_matrix() -> torch.Tensor:
    """Harte's tonal-centroid projection ``(6, 12)``: fifths (r 1), minor thirds (r 1), major thirds (r 0.5)."""
    pc = torch.arange(N_CHROMA, dtype=torch.float64)
    rows = []
    for step, radius in ((7 / 6, 1.0), (3 / 2, 1.0), (2 / 3, 0.5)):
        angle = pc * step * math.pi
        rows += [radius * torch.sin(angle), radius * torch.cos(angle)]
    return torch.stack(rows).float()


@lru_cache(maxsize=8)  # constants: built once, never modified
def _interval_classes() -> torch.Tensor:
    """``(6, 12, 12)`` indicator of pitch-class pairs ``i < j`` per interval class 1..6."""
    i, j = torch.meshgrid(torch.arange(N_CHROMA), torch.arange(N_CHROMA), indexing="ij")
    ic = torch.minimum((j - i) % N_CHROMA, (i - j) % N_CHROMA)
    return torch.stack([((ic == c) & (i < j)).float() for c in range(1, 7)])


def _tonal(chroma_db: torch.Tensor, frame_rate: float) -> dict[str, torch.Tensor]:
    """The chroma groups of ``(B, 12, T)`` chroma windows in dB: ``{group: (B, size)}``."""
    db = chroma_db.float().clamp_min(-100.0)
    power = 10.0 ** (db / 10)  # (B, 12, T)
    total = power.sum(1)  # (B, T)
    weight = (10 * torch.log10(total + 1e-12) > CHROMA_FLOOR_DB).float()  # frames with harmony
    w_sum = weight.sum(-1).clamp_min(1.0)
    dist = power / total.clamp_min(1e-12).unsqueeze(1)  # per-frame distribution over pitch classes
    dist = torch.where(weight.unsqueeze(1) > 0, dist, torch.full_like(dist, 1 / N_CHROMA))

    def wmean(v: torch.Tensor) -> torch.Tensor:  # weighted mean over frames of (B, ..., T)
        return (v * weight.view(weight.shape[0], *([1] * (v.dim() - 2)), -1)).sum(-1) / w_sum.view(
            -1, *([1] * (v.dim() - 2)))

    def wstd(v: torch.Tensor) -> torch.Tensor:
        m = wmean(v)
        return wmean((v - m.unsqueeze(-1)) ** 2).clamp_min(0).sqrt()

    mean_chroma = wmean(dist)  # (B, 12)
    corr = key_correlations(mean_chroma)  # (B, 24)
    best_major, best_minor = corr[:, :12].max(-1).values, corr[:, 12:].max(-1).values
    key = corr.argmax(-1)  # (B,)
    tonic = key % N_CHROMA

    # segments of ~3 s: mean chroma each, weighted by harmonic frames
    seg = max(1, int(round(KEY_SEGMENT_SECONDS * frame_rate)))
    n_seg = max(1, dist.shape[-1] // seg)
    usable = n_seg * seg if dist.shape[-1] >= seg else dist.shape[-1]
    d_seg = (dist[..., :usable] * weight[:, None, :usable]).unflatten(-1, (n_seg, -1)).sum(-1)  # (B, 12, S)
    w_seg = weight[:, :usable].unflatten(-1, (n_seg, -1)).sum(-1)  # (B, S)
    seg_corr = key_correlations((d_seg / w_seg.clamp_min(1).unsqueeze(1)).transpose(1, 2))  # (B, S, 24)
    seg_clarity = seg_corr[..., :12].max(-1).values - seg_corr[..., 12:].max(-1).values
    seg_strength = seg_corr.max(-1).values
    voiced = (w_seg > 0).float()
    n_voiced = voiced.sum(-1).clamp_min(1)
    clar_mean = (seg_clarity * voiced).sum(-1) / n_voiced
    clar_std = (((seg_clarity - clar_mean[:, None]) ** 2 * voiced).sum(-1) / n_voiced).sqrt()
    in_key = ((seg_corr.argmax(-1) == key[:, None]).float() * voiced).sum(-1) / n_voiced
    key_group = torch.stack([best_major, best_minor, torch.maximum(best_major, best_minor), best_major - best_minor,
                             clar_mean, clar_std, (seg_strength * voiced).sum(-1) / n_voiced, in_key], -1)

    # scale-degree profile: rotate so the tonic is first
    order = (tonic[:, None] + torch.arange(N_CHROMA, device=db.device)) % N_CHROMA  # (B, 12)
    rotated = torch.gather(dist, 1, order[:, :, None].expand(-1, -1, dist.shape[-1]))
    chroma_group = torch.cat([wmean(rotated), wstd(rotated)], -1)

    # tonal centroid on the L1-normalised chroma
    centroid = tonal_centroid_matrix().to(db.device) @ dist  # (B, 6, T)
    mean_centroid = wmean(centroid).unflatten(-1, (3, 2)).norm(dim=-1)  # (B, 3)
    frame_len = wmean(centroid.square().unflatten(1, (3, 2)).sum(2).sqrt())  # (B, 3); a sum of 2: 50x norm's speed
    step = max(1, int(round(CHANGE_STEP_SECONDS * frame_rate)))
    if centroid.shape[-1] >= 2 * step:
        pooled = F.avg_pool1d(centroid, step, step)  # (B, 6, T // step)
        moves = pooled.diff(dim=-1).square().sum(1).sqrt()  # (B, steps - 1)
        change = torch.stack([moves.mean(-1), moves.std(-1, unbiased=False)], -1)
    else:
        change = torch.zeros(db.shape[0], 2, device=db.device)
    tonnetz_group = torch.cat([mean_centroid, frame_len, change], -1)

    # roughness from the interval content of each frame: ic[c] = sum_{i<j in class c} dist_i dist_j
    pairs_in_class = (_interval_classes().to(db.device).flatten(0, 1) @ dist).unflatten(1, (6, N_CHROMA))  # (B, 6, 12, T)
    ic = (pairs_in_class * dist.unsqueeze(1)).sum(2)  # (B, 6, T)
    rough = torch.einsum("c,bct->bt", torch.tensor(INTERVAL_ROUGHNESS, device=db.device), ic)
    rough_sorted = torch.where(weight > 0, rough, torch.full_like(rough, float("nan")))
    p90 = torch.nan_to_num(torch.nanquantile(rough_sorted, 0.9, dim=-1), nan=0.0)
    dissonance_group = torch.cat([torch.stack([wmean(rough), wstd(rough), p90], -1), wmean(ic)], -1)

    # salience: peakiness of the chroma distribution
    peak = dist.max(1).values
    entropy = -(dist * dist.clamp_min(1e-12).log()).sum(1) / math.log(N_CHROMA)
    flatness = dist.clamp_min(1e-12).log().mean(1).exp() / dist.mean(1)
    salience_group = torch.stack([wmean(peak), wstd(peak), wmean(entropy), wstd(entropy),
                                  wmean(flatness), wstd(flatness)], -1)
    return {"chroma": chroma_group, "key": key_group, "tonnetz": tonnetz_group,
            "dissonance": dissonance_group, "salience": salience_group}
