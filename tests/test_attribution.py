"""Exact Shapley contributions of the sources."""

from __future__ import annotations

from itertools import combinations

import pytest
import torch

from conftest import make_bundle
from emomucs_core.attribution import dominant_source, shapley, source_contributions, subset_values


def test_shapley_of_an_additive_game_is_each_players_term():
    # v(S) = sum of weights of S: each player's value is its weight.
    weights = torch.tensor([0.1, -0.2, 0.3, 0.05])
    masks = torch.tensor([[bool(m >> (3 - i) & 1) for i in range(4)] for m in range(16)])
    values = (masks.float() @ weights)[:, None, None]
    phi = shapley(masks, values)
    assert torch.allclose(phi[0, :, 0], weights)


def test_shapley_splits_an_interaction_equally():
    # v(S) = 1 if both players 0 and 1 are present: they share it.
    masks = torch.tensor([[bool(m >> (2 - i) & 1) for i in range(3)] for m in range(8)])
    values = (masks[:, 0] & masks[:, 1]).float()[:, None, None]
    phi = shapley(masks, values)[0, :, 0]
    assert torch.allclose(phi, torch.tensor([0.5, 0.5, 0.0]))


@pytest.mark.parametrize("fusion", ["early", "late"])
def test_contributions_add_up_to_full_minus_empty(fusion):
    model = make_bundle(fusion=fusion, seed=3).model
    torch.manual_seed(0)
    feats = {s: torch.randn(2, 96, 600) * 15 - 40 for s in model.sources}
    with torch.no_grad():
        present = model.embed(feats)
        absent = model.absent_embeddings(600, -100.0)
        masks, values = subset_values(model, present, absent)
        phi = source_contributions(model, present, absent)
        full = model.to_unit(model(feats))
    assert masks.shape == (16, 4) and values.shape == (16, 2, 2)
    assert torch.allclose(values[-1], full, atol=1e-6)  # last subset = every source
    assert torch.allclose(phi.sum(dim=1), values[-1] - values[0], atol=1e-6)
    # Symmetry check against the definition for one source.
    n, i = 4, 2
    expected = torch.zeros(2, 2)
    others = [j for j in range(n) if j != i]
    index = {tuple(m.tolist()): k for k, m in enumerate(masks)}
    from math import factorial

    for size in range(n):
        for subset in combinations(others, size):
            without = tuple(j in subset for j in range(n))
            with_i = tuple(j in subset or j == i for j in range(n))
            w = factorial(size) * factorial(n - size - 1) / factorial(n)
            expected += w * (values[index[with_i]] - values[index[without]])
    assert torch.allclose(phi[:, i], expected, atol=1e-6)


def test_dominant_source_uses_absolute_valence_plus_arousal():
    contrib = torch.tensor([[[0.1, 0.1], [-0.3, 0.0], [0.05, 0.2], [0.0, 0.0]]])
    assert dominant_source(contrib, ("vocals", "drums", "bass", "other")) == ["drums"]


def test_an_absent_source_is_silence_or_for_a_linear_head_the_training_mean():
    cnn = make_bundle(fusion="early", seed=3).model
    silent = {s: torch.full((1, 96, 600), -100.0) for s in cnn.sources}
    with torch.no_grad():
        expected = {s: e[0] for s, e in cnn.embed(silent).items()}
    assert all(torch.equal(cnn.absent_embeddings(600, -100.0)[s], expected[s]) for s in cnn.sources)

    linear = make_bundle(arch="desc", fusion="early", head="quadrant", fusion_hidden=0).model
    norm = linear.fusion_head[0]
    norm.set(torch.randn(4 * 260), torch.ones(4 * 260))
    absent = linear.absent_embeddings(600, -100.0)
    assert torch.equal(torch.cat([absent[s] for s in linear.sources]), norm.mean)
