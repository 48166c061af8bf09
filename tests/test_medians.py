"""Medians by sorting networks (:mod:`emomucs_core.separators.medians`), against sorts."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from emomucs_core.separators import medians
from emomucs_core.separators.medians import (
    median, median9, order_statistics, running_median, sorting_network,
)


@pytest.mark.parametrize("n", range(1, 18))
def test_sorting_network_sorts_every_zero_one_input(n):
    # A comparator network sorts every input if it sorts every 0/1 input (Knuth's 0-1 principle).
    network = sorting_network(n)
    for bits in itertools.product((0, 1), repeat=n) if n <= 12 else (torch.randint(0, 2, (4000, n)).tolist()):
        values = list(bits)
        for a, b in network:
            if values[a] > values[b]:
                values[a], values[b] = values[b], values[a]
        assert values == sorted(bits)


def test_order_statistics_and_medians_are_those_of_a_sort():
    values = [torch.randn(3, 7, 5) for _ in range(15)]
    ordered = torch.stack(values, -1).sort(-1).values
    low, high = order_statistics(values, (3, 11))
    assert torch.equal(low, ordered[..., 3]) and torch.equal(high, ordered[..., 11])
    assert torch.equal(median(values), ordered[..., 7])
    assert torch.equal(median9(values[:9]), torch.stack(values[:9], -1).median(-1).values)
    with pytest.raises(ValueError):
        median9(values[:8])
    with pytest.raises(ValueError):
        median(values[:4])


def _unfold_median(x: torch.Tensor, dim: int, size: int, mode: str) -> torch.Tensor:
    half = size // 2
    pad = (half, half, 0, 0) if dim == -1 else (0, 0, half, half)
    return F.pad(x.unsqueeze(1), pad, mode=mode).squeeze(1).unfold(dim, size, 1).median(-1).values


@pytest.mark.parametrize("size", [9, 15, 17])
@pytest.mark.parametrize("dim", [-1, -2])
@pytest.mark.parametrize("mode", ["replicate", "reflect"])
@pytest.mark.parametrize("shape", [(2, 30, 11), (1, 31, 40), (1, 513, 300)])  # odd and even lengths
def test_running_median_is_the_median_of_the_padded_neighbours(size, dim, mode, shape, monkeypatch):
    x = torch.rand(shape)
    expected = _unfold_median(x, dim, size, mode)
    assert torch.equal(running_median(x, dim, size, mode), expected)  # (1, 513, 300): in blocks
    monkeypatch.setattr(medians, "BLOCK_ELEMENTS", 7 * x.shape[dim])  # blocks of 7 rows or columns, the last shorter
    assert torch.equal(running_median(x, dim, size, mode), expected)


def test_running_median_of_a_short_axis_repeats_its_edges():
    x = torch.rand(1, 5, 3)  # too short to mirror 8 values
    assert torch.equal(running_median(x, -2, 17, "reflect"), _unfold_median(x, -2, 17, "replicate"))
    with pytest.raises(ValueError, match="odd size"):
        running_median(x, -1, 8)
