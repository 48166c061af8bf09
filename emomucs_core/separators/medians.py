"""Medians of small sets of tensors by sorting networks of element-wise minima and maxima (torch, batched).

The offline separators' HPSS median filters and REPET-SIM medians take the median
of 9 to 17 values per spectrogram cell. ``torch.median`` over an ``unfold`` sorts
each cell's values: ``offline:v7``'s two HPSS medians of a 27-s span took 312 ms
that way against 24 ms here (one thread). A network compares whole tensors at
once and keeps only the exchanges the wanted outputs depend on.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import torch
import torch.nn.functional as F

Network = tuple[tuple[int, int], ...]

#: Paeth's 19-exchange median-of-9 network (as in Devillard, "Fast median search", opt_med9).
_MED9: Network = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7),
                  (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


@lru_cache(maxsize=None)
def sorting_network(n: int) -> Network:
    """Exchanges ``(a, b)``, ``a < b``, of Batcher's odd-even merge sort of ``n`` values (smallest at 0).

    Built for the next power of two; exchanges that touch a position ``>= n`` are dropped
    (as if those positions held +inf, which never moves).
    """
    size = 1 << max(0, n - 1).bit_length()
    network = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        network.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return tuple((a, b) for a, b in network if b < n)


@lru_cache(maxsize=None)
def _live_exchanges(network: Network, outs: tuple[int, ...]) -> tuple[tuple[int, int, bool, bool], ...]:
    """``(a, b, keep_min, keep_max)`` per exchange of ``network`` that positions ``outs`` depend on."""
    needed, live = set(outs), []
    for a, b in reversed(network):
        keep_min, keep_max = a in needed, b in needed
        if keep_min or keep_max:
            needed |= {a, b}
            live.append((a, b, keep_min, keep_max))
    return tuple(reversed(live))


def order_statistics(values: Sequence[torch.Tensor], ranks: Sequence[int],
                     network: Network | None = None) -> list[torch.Tensor]:
    """Element-wise ``ranks``-th smallest (0-based) of tensors of one shape, by a sorting network.

    ``network`` defaults to :func:`sorting_network` of ``len(values)``; only its exchanges
    that the wanted ranks depend on are run.
    """
    p = list(values)
    for a, b, keep_min, keep_max in _live_exchanges(network or sorting_network(len(p)), tuple(ranks)):
        low = torch.minimum(p[a], p[b]) if keep_min else None
        if keep_max:
            p[b] = torch.maximum(p[a], p[b])
        if keep_min:
            p[a] = low
    return [p[r] for r in ranks]


def median9(values: Sequence[torch.Tensor]) -> torch.Tensor:
    """Element-wise median of 9 tensors of one shape (Paeth's network: 30 minima and maxima)."""
    if len(values) != 9:
        raise ValueError(f"median9 takes 9 tensors, not {len(values)}")
    return order_statistics(values, (4,), _MED9)[0]


def median(values: Sequence[torch.Tensor]) -> torch.Tensor:
    """Element-wise median of an odd number of tensors of one shape."""
    if len(values) % 2 == 0:
        raise ValueError(f"median takes an odd number of tensors, not {len(values)}")
    if len(values) == 9:
        return median9(values)
    return order_statistics(values, (len(values) // 2,))[0]


#: Elements of a block of :func:`running_median` (256 KiB of float32): a block's shifted views and
#: intermediate results stay in a core's cache, 1.5-2.5x faster than one pass over a 27-s span.
BLOCK_ELEMENTS = 1 << 16


def running_median(x: torch.Tensor, dim: int, size: int, mode: str = "replicate") -> torch.Tensor:
    """Median of ``size`` (odd) neighbours along ``dim`` (-1 or -2) of ``x`` ``(B, F, T)``, same shape.

    The edges are padded with ``mode`` (``"replicate"``, or ``"reflect"`` as scipy's
    ``"mirror"``; ``"reflect"`` falls back to ``"replicate"`` where ``x`` is too short for it).
    The work runs in blocks along the other dimension of :data:`BLOCK_ELEMENTS` elements.
    """
    if size % 2 == 0 or dim not in (-1, -2):
        raise ValueError(f"running_median takes an odd size along dim -1 or -2, not {size} along {dim}")
    if mode == "reflect" and x.shape[dim] <= size // 2:
        mode = "replicate"
    across = -1 if dim == -2 else -2
    block = max(1, BLOCK_ELEMENTS // x.shape[dim])
    if x.shape[across] <= block:
        return _running_median(x, dim, size, mode)
    parts = [_running_median(x.narrow(across, i, min(block, x.shape[across] - i)).contiguous(), dim, size, mode)
             for i in range(0, x.shape[across], block)]
    return torch.cat(parts, dim=across)


def _running_median(x: torch.Tensor, dim: int, size: int, mode: str) -> torch.Tensor:
    """:func:`running_median` in one pass.

    For ``size`` > 9, two neighbouring outputs share ``size - 1`` values: their two middle
    values are found once, and each output's median is its own last value clamped
    between them (about 40 % of the work of a network per output for 17 values).
    """
    half, n = size // 2, x.shape[dim]
    pad = (half, half, 0, 0) if dim == -1 else (0, 0, half, half)
    padded = F.pad(x.unsqueeze(1), pad, mode=mode).squeeze(1)
    if size <= 9:
        return median([padded.narrow(dim, i, n) for i in range(size)])
    if n % 2:  # one more output position, dropped at the end
        padded = torch.cat([padded, padded.narrow(dim, padded.shape[dim] - 1, 1)], dim=dim)
    pairs = n + n % 2

    def every_other(start: int) -> torch.Tensor:  # padded[start], padded[start + 2], ...: pairs / 2 rows
        view = padded.narrow(dim, start, pairs - 1)
        return view[..., ::2] if dim == -1 else view[..., ::2, :]

    low, high = order_statistics([every_other(1 + i) for i in range(size - 1)], (half - 1, half))
    first = torch.minimum(torch.maximum(every_other(0), low), high)
    second = torch.minimum(torch.maximum(every_other(size), low), high)
    both = torch.stack([first, second], dim=dim)  # interleaves the pairs' outputs
    return (both.flatten(-2) if dim == -1 else both.flatten(-3, -2)).narrow(dim, 0, n)
