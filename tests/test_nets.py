"""Network shapes, parameter counts and the fusion variants."""

from __future__ import annotations

import pytest
import torch

from emomucs_core.features import MelParams
from emomucs_core.nets import C2D, EmoMucs, NetConfig, count_parameters

FRAMES = MelParams().frames(20.0)
SOURCES = ("vocals", "drums", "bass", "other")


def test_c2d_has_the_papers_parameter_count():
    assert count_parameters(C2D(NetConfig())) == 37_698  # paper, Table 1
    assert count_parameters(EmoMucs(NetConfig(sources=("mix",)))) == 37_698  # C2D-M


def test_a_20_second_window_has_1723_frames():
    assert FRAMES == 1723


@pytest.mark.parametrize(
    "arch,fusion", [("c2d", "early"), ("c2d", "late"), ("c1d", "early"), ("c1d", "mid"), ("c1d", "late")]
)
def test_fused_models_predict_two_values(arch, fusion):
    torch.manual_seed(0)
    model = EmoMucs(NetConfig(arch=arch, fusion=fusion)).eval()
    feats = {s: torch.randn(3, 96, FRAMES) * 10 - 40 for s in SOURCES}
    raw = model(feats)
    assert raw.shape == (3, 2)
    unit = model.to_unit(raw)
    assert torch.all((unit >= 0) & (unit <= 1))
    emb = model.embed(feats)
    width = {"early": 32, "mid": 64, "late": 2}[fusion]
    assert all(e.shape == (3, width) for e in emb.values())
    assert torch.allclose(model.fuse(emb), raw)


def test_mid_fusion_is_c1d_only():
    with pytest.raises(ValueError, match="mid fusion"):
        NetConfig(arch="c2d", fusion="mid")


def test_config_round_trip_rejects_unknown_keys():
    cfg = NetConfig(arch="c1d", fusion="mid", head="logistic")
    assert NetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        NetConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_normalisation_is_part_of_the_state():
    model = EmoMucs(NetConfig(sources=("mix",))).eval()
    x = {"mix": torch.randn(2, 96, 300) * 10 - 40}
    before = model(x)
    model.set_normalisation("mix", torch.full((96,), -40.0), torch.full((96,), 10.0))
    assert not torch.allclose(before, model(x))
    assert torch.equal(model.state_dict()["source_nets.mix.norm.mean"], torch.full((96,), -40.0))


def test_logistic_head_maps_logits_with_a_sigmoid():
    model = EmoMucs(NetConfig(sources=("mix",), head="logistic"))
    assert torch.allclose(model.to_unit(torch.tensor([[0.0, 2.0]])), torch.sigmoid(torch.tensor([[0.0, 2.0]])))


def test_quadrant_head_gives_valence_and_arousal_probabilities():
    model = EmoMucs(NetConfig(head="quadrant")).eval()
    logits = torch.tensor([[5.0, -5.0, -5.0, -5.0], [-5.0, -5.0, 5.0, -5.0], [-9.0, -9.0, -9.0, 9.0]])
    unit = model.to_unit(logits)
    assert unit.shape == (3, 2)
    assert unit[0].tolist() == pytest.approx([1, 1], abs=1e-3)  # Q1: V+ A+
    assert unit[1].tolist() == pytest.approx([0, 0], abs=1e-3)  # Q3: V- A-
    assert unit[2].tolist() == pytest.approx([1, 0], abs=1e-3)  # Q4: V+ A-
    feats = {s: torch.randn(2, 96, 400) for s in model.sources}
    assert model(feats).shape == (2, 4) and model.to_unit(model(feats)).shape == (2, 2)


@pytest.mark.parametrize("arch,fusion", [("c1d", "mid"), ("c2d", "early")])
def test_summary_branch_adds_per_band_statistics(arch, fusion):
    torch.manual_seed(0)
    model = EmoMucs(NetConfig(arch=arch, fusion=fusion, summary=True)).eval()
    model.set_normalisation("vocals", torch.full((96,), -40.0), torch.full((96,), 10.0))
    x = torch.randn(2, 96, 400) * 10 - 40
    net = model.source_nets["vocals"]
    early = net.embed(x, "early")
    assert early.shape == (2, 32 + 192)
    standardised = (x - net.norm.mean[:, None]) / net.norm.std[:, None]
    assert torch.allclose(early[:, 32:128], standardised.mean(dim=-1), atol=1e-5)
    assert torch.allclose(early[:, 128:], standardised.std(dim=-1), atol=1e-5)
    assert model({s: x for s in model.sources}).shape == (2, 2)


def test_descriptor_branch_widens_early_features_and_carries_its_normalisation():
    from emomucs_core.descriptors import descriptor_size

    cfg = NetConfig(arch="c1d", fusion="early", descriptors=True)
    model = EmoMucs(cfg).eval()
    feats = {s: torch.randn(2, 96, 400) * 10 - 40 for s in SOURCES}
    assert model.embed(feats)["vocals"].shape == (2, 32 + descriptor_size(96))
    before = model(feats)
    size = descriptor_size(96)
    model.set_descriptor_normalisation("vocals", torch.full((size,), 5.0), torch.full((size,), 2.0))
    assert not torch.allclose(before, model(feats))
    assert torch.equal(model.state_dict()["source_nets.vocals.glob.desc_norm.std"], torch.full((size,), 2.0))
    assert NetConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("summary", [False, True])
def test_descriptor_models_embed_all_sources_in_one_pass_as_each_alone(summary):
    """One descriptor pass over every source's windows gives each source its own standardised features."""
    from emomucs_core.descriptors import GROUPS, descriptor_size

    cfg = NetConfig(arch="desc", fusion="early", descriptors=True, summary=summary, n_chroma=12,
                    descriptor_groups=GROUPS, fusion_hidden=0, head="quadrant")
    model = EmoMucs(cfg).eval()
    size = descriptor_size(96, GROUPS)
    for i, s in enumerate(SOURCES):  # each source its own statistics: a mix-up would show
        model.set_descriptor_normalisation(s, torch.randn(size) * (i + 1), torch.rand(size) + i + 0.5)
    feats = {s: torch.randn(3, 108, 400) * 10 - 40 - 5 * i for i, s in enumerate(SOURCES)}
    together = model.embed(feats)
    for s in SOURCES:
        alone = model.source_nets[s].embed(feats[s], "early")
        assert together[s].shape == alone.shape == (3, size + (2 * 96 if summary else 0))
        torch.testing.assert_close(together[s], alone, rtol=1e-5, atol=1e-4)


def test_a_zero_width_hidden_layer_makes_the_fusion_head_linear():
    model = EmoMucs(NetConfig(arch="c1d", fusion="early", head="quadrant", fusion_hidden=0)).eval()
    assert [type(m).__name__ for m in model.fusion_head] == ["_Standardise", "Linear"]
    feats = {s: torch.randn(2, 96, 400) * 10 - 40 for s in SOURCES}
    assert model(feats).shape == (2, 4)


def test_heads_agree_on_tensors_and_arrays_and_with_the_quadrant_rule():
    import numpy as np

    from emomucs_core.heads import HEADS, head_of

    raw = torch.tensor([[2.0, -1.0, 0.5, 0.0], [-3.0, 0.1, 2.0, 1.0]])
    q = head_of("quadrant")
    p = q.proba(raw)
    assert torch.allclose(p.sum(-1), torch.ones(2))
    assert np.allclose(q.to_unit(p).numpy(), q.to_unit(p.numpy()))
    assert q.quadrants(p) == ["Q1", "Q3"]
    assert q.loss(raw, torch.tensor([[1.0, 1.0], [0.0, 0.0]])) < q.loss(raw, torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    for name in ("regression", "logistic"):
        head = HEADS[name]
        unit = head.to_unit(head.proba(torch.tensor([[0.3, -0.2]])))
        assert head.quadrants(unit.numpy()) == ["Q4"]  # valence above, arousal below neutral
    with pytest.raises(ValueError, match="head must be one of"):
        head_of("softmax")
