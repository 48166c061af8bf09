"""Per-source contributions: exact Shapley values over the sources of a fused model.

A source is "absent" when its features are those given by
:meth:`~emomucs_core.nets.EmoMucs.absent_embeddings` (a silent stem, or the
training mean for a linear head). With four
sources the fusion head is evaluated on all 16 subsets; for each output the
contributions sum to ``f(all sources) - f(no source)`` (efficiency).
"""

from __future__ import annotations

from itertools import product
from math import factorial

import torch

from .nets import EmoMucs


def subset_values(
    model: EmoMucs, present: dict[str, torch.Tensor], absent: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Model output in [0, 1] for every subset of sources.

    Parameters
    ----------
    present : ``{source: (B, d)}`` features of the real stems.
    absent : ``{source: (d,)}`` features of an absent source.

    Returns
    -------
    masks : bool ``(2**n, n)``, which sources each subset holds (order of ``model.sources``).
    values : ``(2**n, B, 2)`` unit (valence, arousal) of each subset.
    """
    sources = model.sources
    masks = torch.tensor(list(product([False, True], repeat=len(sources))))
    batch = next(iter(present.values())).shape[0]
    mixed = {
        s: torch.where(
            masks[:, i, None, None],
            present[s].unsqueeze(0),
            absent[s].expand(batch, -1).unsqueeze(0),
        ).flatten(0, 1)
        for i, s in enumerate(sources)
    }
    values = model.to_unit(model.fuse(mixed)).view(len(masks), batch, -1)
    return masks, values


def shapley(masks: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Exact Shapley values from all subset values.

    Parameters
    ----------
    masks : bool ``(2**n, n)``; values : ``(2**n, B, k)``.

    Returns
    -------
    ``(B, n, k)``: contribution of each player to each of the ``k`` outputs.
    """
    n = masks.shape[1]
    index = {tuple(m.tolist()): j for j, m in enumerate(masks)}
    phi = torch.zeros(values.shape[1], n, values.shape[2], dtype=values.dtype)
    for j, m in enumerate(masks):
        size = int(m.sum())
        for i in range(n):
            if m[i]:
                continue
            with_i = list(m.tolist())
            with_i[i] = True
            weight = factorial(size) * factorial(n - size - 1) / factorial(n)
            phi[:, i] += weight * (values[index[tuple(with_i)]] - values[j])
    return phi


def source_contributions(
    model: EmoMucs, present: dict[str, torch.Tensor], absent: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Shapley contribution of each source to unit valence and arousal: ``(B, n_sources, 2)``."""
    with torch.no_grad():
        return shapley(*subset_values(model, present, absent))


def dominant_source(contributions: torch.Tensor, sources: tuple[str, ...]) -> list[str]:
    """Per item, the source with the largest ``|valence| + |arousal|`` contribution.

    ``contributions`` has shape ``(B, n_sources, 2)``.
    """
    best = contributions.abs().sum(dim=-1).argmax(dim=-1)
    return [sources[int(i)] for i in best]
