"""`emomucs evaluate` and `emomucs train` end to end on small data with the small test Demucs.

The paper's full run (PMEmo, 794 clips, pretrained Demucs) cannot run here; this
is the same code path on a 4Q-layout folder of generated songs and on the PMEmo
samples in ../shared/data, when present.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SHARED_DATA, write_fourq
from emomucs_core.checkpoint import load_bundle
from emomucs_core.cli import main
from emomucs_core.datasets.cache import FeatureCache

@pytest.fixture(scope="module")
def fourq_folder(tmp_path_factory) -> Path:
    """The 4Q dataset's layout with 12 generated 6-s songs, 3 per quadrant, 6 artists."""
    return write_fourq(tmp_path_factory.mktemp("4q"), 3, lambda qi, j: f"artist{(qi * 3 + j) % 6}")


def test_evaluate_writes_the_report_and_resumes(fourq_folder, demucs_repo, tmp_path, monkeypatch):
    args = ["evaluate", "--dataset", "4q", "--data", str(fourq_folder), "--separator", "demucs:htdemucs",
            "--demucs-repo", str(demucs_repo), "--cache", str(tmp_path / "cache"), "--windows", "1",
            "--epochs", "2", "--batch-size", "4", "--folds", "2", "--threads", "1",
            "--models", "c1d-m,c1d-mid-freeze-quadrant", "--out", str(tmp_path / "report")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    report = (tmp_path / "report" / "report.md").read_text()
    for row in ("c1d-m", "c1d-mid-freeze-quadrant", "handcrafted-logreg", "Table 1", "Table 2"):
        assert row in report
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert {m["name"] for m in results["models"]} == {"c1d-m", "c1d-mid-freeze-quadrant", "handcrafted-logreg"}
    assert (tmp_path / "report" / "c1d-mid-freeze-quadrant-va.png").stat().st_size > 1000
    # A rerun finds every fold done and every feature cached.
    cached = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npz")}
    calls = Counter()
    for method in ("lookup", "get_or_compute"):
        def counted(self, *a, _real=getattr(FeatureCache, method), _name=method, **kw):
            calls[_name] += 1
            return _real(self, *a, **kw)
        monkeypatch.setattr(FeatureCache, method, counted)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npz")} == cached
    assert calls == {"lookup": 12}  # each clip's log-mels read once, nothing rebuilt
    assert json.loads((tmp_path / "report" / "results.json").read_text())["models"][1]["summary"] == (
        results["models"][1]["summary"])


def test_train_saves_a_bundle_that_predicts(fourq_folder, demucs_repo, tmp_path):
    out = tmp_path / "model.safetensors"
    result = CliRunner().invoke(main, [
        "train", "--dataset", "4q", "--data", str(fourq_folder), "--separator", "demucs:htdemucs",
        "--demucs-repo", str(demucs_repo), "--cache", str(tmp_path / "cache"), "--windows", "1", "--epochs", "2",
        "--batch-size", "4", "--threads", "1", "--model", "c1d-late-freeze-logistic", "--name", "tiny",
        "--out", str(out)])
    assert result.exit_code == 0, result.output
    bundle = load_bundle(out)
    assert bundle.separator == {"backend": "demucs", "model": "htdemucs"}
    assert bundle.config.arch == "c1d" and bundle.config.fusion == "late" and bundle.config.head == "logistic"
    assert bundle.data["dataset"] == "4q" and bundle.data["clips"] == 12
    song = next(fourq_folder.glob("Q1/*.mp3"))
    predicted = CliRunner().invoke(main, ["predict", str(song), "--model", str(out), "--demucs-repo",
                                          str(demucs_repo), "--windows", "1", "--json"])
    assert predicted.exit_code == 0, predicted.output
    row = json.loads(predicted.output.splitlines()[-1])
    assert row["model_id"] == bundle.id and 0 <= row["valence"] <= 1


@pytest.mark.skipif(not (SHARED_DATA / "pmemo-samples").is_dir(), reason="PMEmo samples not present")
def test_pmemo_layout_through_the_same_path(demucs_repo, tmp_path):
    result = CliRunner().invoke(main, [
        "train", "--dataset", "pmemo", "--data", str(SHARED_DATA / "pmemo-samples" / "PMEmo2019"),
        "--separator", "demucs:htdemucs", "--demucs-repo", str(demucs_repo), "--cache", str(tmp_path / "c"),
        "--windows", "1", "--epochs", "1", "--batch-size", "2", "--threads", "1", "--model", "c1d-m",
        "--out", str(tmp_path / "p.safetensors")])
    assert result.exit_code == 0, result.output
    assert load_bundle(tmp_path / "p.safetensors").data["clips"] == 4
