"""Soft masks of the four sources on a mono power spectrogram: HPSS + REPET-SIM + crossovers, in torch.

Two grids (:class:`MaskGrid`) on which the masks are estimated from the long (2048-point) STFT:

- :data:`CELLS` (:func:`stem_masks`; ``offline:v2`` to ``offline:v5``): means of 2 x 2 STFT cells (21.5 Hz x
  46 ms), HPSS medians of 9 cells each way, REPET-SIM over the 9 most similar cells' frames, interpolated
  linearly in time back to the STFT frames (each mask row covers the two bins of its cell).
- :data:`BINS` (:func:`v1_grid_masks`; ``offline:v7``): ``offline:v1``'s way, every 10.8-Hz bin and every
  other frame (46 ms apart), HPSS medians of 9 frames and 17 bins mirrored at the edges, REPET-SIM over 15.

Either way: **drums** are the percussive part, **vocals** the harmonic foreground (REPET-SIM: what the
median of the most similar frames at least 2 s away does not explain) above about 80 Hz, **bass** the
rest of the harmonic part below about 250 Hz, **other** what is left; the four masks sum to 1.
The medians are sorting networks over whole batches (:mod:`.medians`), not per-cell sorts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..features import MelParams, interpolate_frames
from .medians import BLOCK_ELEMENTS, median, running_median

#: Mask grid cell of :data:`CELLS`: about 46 ms x 21.5 Hz (pooled STFT cells); :data:`BINS` keeps the 46 ms.
MASK_HOP_SECONDS = 2048 / 44100
MASK_BIN_HZ = 21.5
#: REPET-SIM: similar frames must be at least this far apart (s); their median models the background.
REPEAT_SECONDS = 2.0
#: REPET-SIM foreground margin (librosa's example uses 10; lower keeps more).
VOCAL_MARGIN = 2.0
#: Hz: crossover of the bass low-pass, and below which nothing goes to vocals.
BASS_CUTOFF = 250.0
VOCAL_HIGHPASS = 80.0


@dataclass(frozen=True)
class MaskGrid:
    """Where the masks are estimated and with which median lengths.

    ``kind``: ``"cells"`` (:func:`stem_masks`) or ``"bins"`` (:func:`v1_grid_masks`); ``hpss``: HPSS median
    lengths ``(along time, along frequency)`` in grid cells; ``neighbours``: REPET-SIM frames (odd) whose
    median models the background.
    """

    kind: str
    hpss: tuple[int, int]
    neighbours: int

    def masks(self, power: torch.Tensor, params: MelParams) -> tuple[torch.Tensor, int]:
        """``(masks (B, 4, rows, T), bins per row)`` of ``power`` ``(B, bins, T)`` on this grid."""
        return (stem_masks if self.kind == "cells" else v1_grid_masks)(power, params, self)


#: 2 x 2 STFT cells, 9-cell medians, 9 neighbours (``offline:v2`` to ``offline:v5``).
CELLS = MaskGrid("cells", hpss=(9, 9), neighbours=9)
#: ``offline:v1``'s: every bin, every other frame, medians of 9 frames and 17 bins, 15 neighbours (``offline:v7``).
BINS = MaskGrid("bins", hpss=(9, 17), neighbours=15)


def stem_masks(power: torch.Tensor, params: MelParams, grid: MaskGrid = CELLS) -> tuple[torch.Tensor, int]:
    """Soft masks of a mono power spectrogram on :data:`CELLS`' grid, one row per cell of ``bins_per_cell`` bins.

    ``power``: ``(B, bins, T)`` at ``params.samplerate`` with ``params.hop_length``.
    Returns the masks ``(B, 4, Fg, T)`` of :data:`SOURCES` in [0, 1], summing to 1, at
    full time resolution (linear interpolation between grid frames), and
    ``bins_per_cell`` (:func:`masked_power` applies a row to all bins of its cell).
    """
    bins = power.shape[-2]
    bin_hz = params.samplerate / params.n_fft
    pool = (max(1, round(MASK_BIN_HZ / bin_hz)), max(1, round(MASK_HOP_SECONDS * params.frame_rate)))
    mag = _cell_means(power, pool).sqrt()  # (B, Fg, Tg) magnitude
    along_time, along_freq = grid.hpss
    harm, perc = _softmask(running_median(mag, -1, along_time), running_median(mag, -2, along_freq))
    fore = _repet_foreground(mag * harm + 1e-8, params.frame_rate / pool[1], grid.neighbours)
    centres = ((torch.arange(mag.shape[-2], dtype=torch.float32) + 0.5) * pool[0] - 0.5).clamp(0, bins - 1)
    grid = _stems(harm, perc, fore, centres * bin_hz)  # (B, 4, Fg, Tg), frequencies at each cell's centre
    return _upsample_time(grid, pool[1])[..., : power.shape[-1]], pool[0]


def v1_grid_masks(power: torch.Tensor, params: MelParams, grid: MaskGrid = BINS) -> tuple[torch.Tensor, int]:
    """``offline:v1``'s masks, on its grid, from a mono power spectrogram: as :func:`stem_masks`, one row per bin.

    The grid is every bin of ``power`` ``(B, bins, T)`` (10.8 Hz for :data:`V2_PARAMS`) and
    every ``step``-th frame (:data:`MASK_HOP_SECONDS`: 46 ms); HPSS medians of
    ``grid.hpss`` (:data:`BINS`: 9 frames, 17 bins), mirrored at the edges, and REPET-SIM over
    ``grid.neighbours`` frames (15), as ``offline:v1``. Returns ``(B, 4, bins, T)`` and 1.
    """
    bins, frames = power.shape[-2:]
    step = max(1, round(MASK_HOP_SECONDS * params.frame_rate))
    mag = power[..., ::step].sqrt()  # (B, bins, Tg) magnitude
    along_time, along_freq = grid.hpss
    harm, perc = _softmask(running_median(mag, -1, along_time, "reflect"),
                           running_median(mag, -2, along_freq, "reflect"))
    fore = _repet_foreground(mag * harm + 1e-8, params.frame_rate / step, grid.neighbours)
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
