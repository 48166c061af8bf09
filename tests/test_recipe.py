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
