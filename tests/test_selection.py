"""The honest-selection protocol: outer folds only score, the selector sees the training part only."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from emomucs_core.nets import QUADRANTS
from emomucs_core.training.data import FeatureSet
from emomucs_core.training.metrics import brier_score, confusion_matrix, reliability_table
from emomucs_core.training.recipe import STEMS, bundle_from_selection, evaluate_recipe
from emomucs_core.training.selection import (
    Calibration, Candidate, DescriptorTable, Selector, TrainingPart, candidates, clip_log_loss, nested_cv,
    one_standard_error, outer_folds, select_final,
)

RATE = 22050 / 512
N_MELS = 96


def feature_set(n: int = 48, t: int = 120, seed: int = 0) -> FeatureSet:
    """Stems with 96 mel + 12 chroma rows; the quadrant shows in the vocals' mel rows and the other stem's chroma."""
    rng = np.random.default_rng(seed)
    quads = np.array(QUADRANTS)[np.arange(n) % 4]
    feats = {}
    for s in STEMS:
        x = rng.normal(-40, 3, (n, 2, N_MELS + 12, t))
        if s == "vocals":
            x[:, :, 10:30] += 6 * np.isin(quads, ("Q1", "Q2"))[:, None, None, None]
        if s == "other":  # minor triad for negative valence, major for positive
            x[:, :, N_MELS:] = -80
            x[:, :, N_MELS + 0] = x[:, :, N_MELS + 7] = -10
            third = np.where(np.isin(quads, ("Q1", "Q4")), 4, 3)
            x[np.arange(n), :, N_MELS + third] = -10
        feats[s] = x.astype(np.float16)
    targets = np.stack([np.isin(quads, ("Q1", "Q4")), np.isin(quads, ("Q1", "Q2"))], 1).astype(np.float32)
    return FeatureSet(feats, targets, [f"artist{i // 2}" for i in range(n)], list(quads))


@pytest.fixture(scope="module")
def table() -> DescriptorTable:
    return DescriptorTable.from_feature_set(feature_set(), STEMS, RATE, ("mfcc", "rhythm", "chroma", "key"), N_MELS)


TIMBRE = ("mfcc", "rhythm")
SMALL = candidates([TIMBRE, TIMBRE + ("key",)], (0.01, 1.0))


def test_training_part_holds_copies_of_the_training_rows_only(table):
    idx = np.arange(0, len(table), 3)
    part = table.part(idx)
    assert isinstance(part, TrainingPart) and len(part) == len(idx)
    assert np.array_equal(part.x, table.x[idx]) and part.x.base is None or part.x.base is not table.x
    part.x[:] = 0  # writing into the part cannot reach the table
    assert np.abs(table.x[idx]).sum() > 0
    with pytest.raises(TypeError, match="TrainingPart"):
        Selector(SMALL).select(table)


def test_outer_test_labels_cannot_change_any_choice(table):
    """Scramble the labels of each outer fold's test clips: every choice and every inner score stays."""
    folds = outer_folds(table, k=3, seed=0)
    selector = Selector(SMALL, inner_k=3)
    first = nested_cv(table, selector, folds=folds)
    for i, (train, test) in enumerate(folds):
        scrambled = table.quadrants.copy()
        scrambled[test] = np.roll(scrambled[test], 1)
        other = replace(table, quadrants=scrambled)
        again = selector.select(other.part(train))
        assert again.candidate == first.selections[i].candidate
        assert again.scores == first.selections[i].scores
        assert again.calibration == first.selections[i].calibration
    # while a training label change does reach the selector
    changed = table.quadrants.copy()
    train = folds[0][0]
    changed[train] = np.roll(changed[train], 1)
    other = replace(table, quadrants=changed)
    assert selector.select(other.part(train)).scores != first.selections[0].scores


def test_harmony_is_chosen_when_only_harmony_tells_valence(table):
    sel = select_final(table, Selector(SMALL, inner_k=3))
    assert "key" in sel.candidate.groups
    assert sel.scores[Candidate(TIMBRE + ("key",), 1.0).label]["accuracy"] > \
        sel.scores[Candidate(TIMBRE, 1.0).label]["accuracy"] + 0.2


def test_one_standard_error_rule_prefers_fewer_groups_then_stronger_penalty():
    a, b, c = Candidate(("mfcc",), 0.1), Candidate(("mfcc", "key"), 0.01), Candidate(("mfcc",), 0.01)
    scores = {a.label: {"log_loss": 1.00, "log_loss_se": 0.02}, b.label: {"log_loss": 0.99, "log_loss_se": 0.02},
              c.label: {"log_loss": 1.005, "log_loss_se": 0.02}}
    assert one_standard_error([a, b, c], scores) == c  # all within 0.99 + 0.02 -> simplest
    scores[c.label]["log_loss"] = 1.5
    assert one_standard_error([a, b, c], scores) == a


def test_calibration_undoes_overconfidence():
    rng = np.random.default_rng(0)
    q = np.array(QUADRANTS)[rng.integers(0, 4, 400)]
    truth = np.eye(4)[[QUADRANTS.index(v) for v in q]]
    logits = (3 * truth + rng.normal(0, 1.5, (400, 4)))[:, None, :] * 4  # right ranking, 4x too sharp
    cal = Calibration.fit(logits, q)
    assert 2.5 < cal.temperature < 6
    assert clip_log_loss(cal.proba(logits), q).mean() < clip_log_loss(Calibration().proba(logits), q).mean() - 0.2


def test_bundle_computes_the_selection_probabilities(table, tmp_path):
    from emomucs_core.checkpoint import load_bundle
    from emomucs_core.features import MelParams

    data = feature_set()
    sel = select_final(table, Selector(SMALL, inner_k=3))
    bundle = bundle_from_selection(sel, n_mels=N_MELS, n_chroma=12, frame_rate=RATE, mel=MelParams(),
                                   separator=None, name="t", data_info={}, metrics={})
    model = load_bundle(bundle.save(tmp_path / "b.safetensors")).model
    with torch.no_grad():
        x = {s: torch.from_numpy(data.feats[s].astype(np.float32)).flatten(0, 1) for s in STEMS}
        p = torch.softmax(model(x), -1).view(len(data), 2, 4).mean(1).numpy()
    assert np.allclose(p, sel.proba(table.x), atol=1e-4)


def test_report_figures_by_hand(table):
    p = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1], [0.25, 0.25, 0.3, 0.2]])
    q = np.array(["Q1", "Q3", "Q3"])
    assert confusion_matrix(q, ["Q1", "Q2", "Q3"]).tolist() == [[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 1, 0], [0] * 4]
    assert brier_score(p, q) == pytest.approx((0.12 + 0.1**2 * 2 + 0.6**2 + 0.8**2 + 0.25**2 * 2 + 0.7**2 + 0.2**2) / 3)
    rel = reliability_table(p, q, bins=10)
    assert [b["count"] for b in rel["bins"] if b["count"]] == [1, 1, 1]
    assert rel["ece"] == pytest.approx((0.3 + 0.6 + 0.7) / 3)
    recipes = {"shipped": SMALL, "timbre only": candidates([TIMBRE], (0.01,))}
    result = evaluate_recipe(table, table.x.mean(1)[:, :50], recipes, k=3)
    assert set(result["models"]) == {"shipped", "timbre only", "handcrafted baseline"}
    assert sum(map(sum, result["models"]["shipped"]["confusion"])) == len(table)


def test_one_quadrant_rule_for_labels_and_predictions():
    from emomucs_core.datasets.clip import quadrant_of as label_rule
    from emomucs_core.quadrants import quadrant_of, quadrants_of
    from emomucs_core.training.metrics import evaluate

    assert label_rule is quadrant_of
    ties = [(0.5, 0.5), (0.5, 0.49), (0.49, 0.5), (0.49, 0.49)]
    assert quadrants_of(ties) == [quadrant_of(v, a) for v, a in ties] == ["Q1", "Q4", "Q2", "Q3"]
    # a prediction exactly on the boundary is scored by the same rule as a label there
    m = evaluate(np.array([[1.0, 1.0]]), np.array([[0.5, 0.5]]))
    assert m["quadrant_acc"] == 1.0 and m["valence_bacc"] == 1.0


def test_table_round_trip(table, tmp_path):
    table.save(tmp_path / "t.npz")
    back = DescriptorTable.load(tmp_path / "t.npz")
    assert np.array_equal(back.x, table.x) and back.groups == table.groups and back.ids == table.ids
    assert np.array_equal(back.quadrants, table.quadrants) and back.sources == table.sources
