"""The 4Q recipe end to end (`make evaluate-4q` / `make model`) on a small generated 4Q-layout folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import write_fourq
from emomucs_core.checkpoint import load_bundle
from emomucs_core.predictor import Predictor
from emomucs_core.training import recipe

SEPARATOR = "offline:v2"


@pytest.fixture(scope="module")
def fourq(tmp_path_factory) -> Path:
    """24 generated 5-s songs in the 4Q layout, 6 per quadrant, two per artist."""
    return write_fourq(tmp_path_factory.mktemp("4q"), 6, lambda qi, j: f"artist{qi}-{j // 2}", seconds=5)


def test_evaluate_then_train_then_predict(fourq, tmp_path):
    common = ["--data", str(fourq), "--cache", str(tmp_path / "cache"), "--separator", SEPARATOR,
              "--windows", "1", "--folds", "3", "--inner-folds", "3"]
    report = tmp_path / "report"
    assert recipe.main(["evaluate", *common, "--out", str(report)]) == 0
    results = json.loads((report / "results.json").read_text())
    assert {"shipped", "handcrafted baseline"} <= set(results["models"])
    shipped = results["models"]["shipped"]
    assert len(shipped["per_fold"]) == 3 and sum(map(sum, shipped["confusion"])) == 24
    assert "Confusion matrix" in (report / "report.md").read_text()

    out = tmp_path / "model.safetensors"
    assert recipe.main(["train", *common, "--metrics", str(report / "results.json"), "--out", str(out)]) == 0
    bundle = load_bundle(out)
    assert bundle.config.arch == "desc" and bundle.config.head == "quadrant"
    assert bundle.metrics["nested_cv"]["quadrant_acc"] == shipped["summary"]["quadrant_acc"]
    assert bundle.data["clips"] == 24 and bundle.data["chosen"]
    # the descriptor table was stored once and is read back by the second command
    assert len(list((tmp_path / "cache" / "tables").glob("*.npz"))) == 1
    song = next(fourq.glob("Q1/*.mp3"))
    pred = next(iter(Predictor(bundle=out, windows=1).predict([song])))
    assert pred.error is None and 0 <= pred.valence <= 1 and pred.model_id == bundle.id
    assert np.isfinite([pred.valence, pred.arousal]).all()


def test_musicnn_recipe_rows_and_a_bundle_that_computes_the_tables_columns(fourq, tmp_path):
    """``--extractors musicnn``: one nested-CV row per group set; a bundle with the musicnn groups computes, from
    the cached stem features, exactly the columns the selector was trained on, and records the weights it needs."""
    import argparse

    import torch

    from emomucs_core.descriptors import EXTRACTOR_GROUPS, TIMBRE_GROUPS
    from emomucs_core.training.selection import EXTRACTOR_SETS, Candidate, Selector, select_final

    common = ["--data", str(fourq), "--cache", str(tmp_path / "cache"), "--separator", SEPARATOR,
              "--windows", "1", "--folds", "3", "--inner-folds", "3", "--extractors", "musicnn"]
    report = tmp_path / "report"
    assert recipe.main(["evaluate", *common, "--out", str(report)]) == 0
    models = json.loads((report / "results.json").read_text())["models"]
    assert set(EXTRACTOR_SETS) | {"shipped", "handcrafted baseline"} == set(models)
    assert all(sum(map(sum, models[name]["confusion"])) == 24 for name in EXTRACTOR_SETS)

    args = argparse.Namespace(data=fourq, cache=tmp_path / "cache", separator=SEPARATOR, windows=1,
                              extractors="musicnn")
    table, clips, mel, cache, sep = recipe.load_table(args)
    assert table.x.shape[-1] == 4 * (260 + 55 + 250) and set(EXTRACTOR_GROUPS) <= set(table.groups)
    selection = select_final(table, Selector((Candidate(TIMBRE_GROUPS + EXTRACTOR_GROUPS, 0.01),), inner_k=3))
    bundle = recipe.bundle_from_selection(selection, n_mels=mel.n_mels, n_chroma=mel.n_chroma,
                                          frame_rate=mel.frame_rate, mel=mel, separator=sep.spec, name="t",
                                          data_info={}, metrics={})
    assert [e["name"] for e in bundle.extractors] == ["musicnn"]
    entry = cache.lookup(clips[0].path, sep.id, ("vocals", "drums", "bass", "other"), 1, mel)
    feats = {s: torch.from_numpy(v.astype(np.float32)) for s, v in entry.items()}
    net = bundle.model
    glob = net.source_nets["vocals"].glob
    x = torch.cat([feats[s] for s in net.sources])
    computed = torch.cat([p for p in glob.unscaled(x, x[:, :glob.n_mels])], dim=1)  # (4 sources, 565)
    expected = torch.from_numpy(table.x[0, 0][selection.columns]).view(4, -1)
    assert torch.allclose(computed, expected, rtol=1e-4, atol=1e-3)
    # the probabilities too: the bundle's network is the selection
    with torch.no_grad():
        p_bundle = torch.softmax(net(feats), dim=-1).mean(0).numpy()
    assert np.allclose(p_bundle, selection.proba(table.x[:1])[0], atol=1e-4)


def test_a_bundle_refuses_other_musicnn_weights(tmp_path):
    from emomucs_core.checkpoint import Bundle, BundleError
    from emomucs_core.descriptors import EXTRACTOR_GROUPS, TIMBRE_GROUPS
    from emomucs_core.extractors.musicnn import extractor_record
    from emomucs_core.nets import EmoMucs, NetConfig

    cfg = NetConfig(arch="desc", fusion="early", head="quadrant", fusion_hidden=0, descriptors=True,
                    descriptor_groups=TIMBRE_GROUPS + EXTRACTOR_GROUPS)
    good = Bundle(model=EmoMucs(cfg).eval(), extractors=[extractor_record()], name="good")
    assert load_bundle(good.save(tmp_path / "good.safetensors")).extractors == [extractor_record()]
    other = dict(extractor_record(), weights_sha256="ab" * 32)
    Bundle(model=EmoMucs(cfg).eval(), extractors=[other], name="other").save(tmp_path / "other.safetensors")
    with pytest.raises(BundleError) as err:
        load_bundle(tmp_path / "other.safetensors")
    message = str(err.value)
    assert "\n" not in message and "other.safetensors" in message and "abababababab" in message
    assert extractor_record()["weights_sha256"][:12] in message
    Bundle(model=EmoMucs(cfg).eval(), name="none").save(tmp_path / "none.safetensors")
    with pytest.raises(BundleError, match="records no musicnn weights"):
        load_bundle(tmp_path / "none.safetensors")
