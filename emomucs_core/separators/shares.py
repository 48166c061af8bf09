"""From masks on the long STFT to each stem's power, and each stem's share of a shorter STFT's bins.

:func:`masked_power` gives the stems' power ``|X|**2 * mask**2`` on the long (2048-point) STFT. A
variant whose mel rows come from a short (512-point) STFT gives each short bin each stem's share of the
masked power around it: :func:`band_shares` (flat, the long bins within the short bin's main lobe;
``offline:v4``) or :func:`leakage_shares` (weighted by the short window's power response, side lobes down
to -100 dB, so a loud stem's leakage shows as it would in the short STFT of its own audio; ``offline:v5``,
``offline:v7``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F


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
