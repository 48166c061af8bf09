"""The emomucs command line, run end to end as a user would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_bundle

from emomucs_core.cli import main

PMEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "pmemo-samples" / "PMEmo2019" / "chorus"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "emomucs_core.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def test_predict_prints_json_lines_and_errors_on_stderr(bundle_path, demucs_repo, music_files, tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio")
    files = sorted(PMEMO.glob("*.mp3"))[:2] if PMEMO.is_dir() else [music_files["mp3"]]
    out = _run("predict", *files, bad, "--model", bundle_path, "--demucs-repo", demucs_repo,
               "--json", "--windows", "1", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(r["path"]) for r in rows] == [*files, bad]  # every file gets a record, errors included
    assert all(0 <= r["valence"] <= 1 and r["dominant_source"] and r["error"] is None for r in rows[:-1])
    assert rows[-1]["error"].startswith("not an audio file") and rows[-1]["valence"] is None
    assert f"error: {bad}: not an audio file" in out.stderr


def test_predict_table_and_exit_status_when_nothing_succeeds(bundle_path, demucs_repo, music_files, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["predict", str(music_files["flac"]), "--model", str(bundle_path),
                              "--demucs-repo", str(demucs_repo), "--windows", "1"])
    assert ok.exit_code == 0, ok.output
    assert f"warning: {music_files['flac']}: short track: 8.0 s looped" in ok.output  # stderr, mixed in here
    header, row = ok.stdout.splitlines()[:2]
    assert header.split()[:3] == ["valence", "arousal", "dominant"]
    assert row.endswith(str(music_files["flac"]))
    (tmp_path / "a.wav").write_bytes(b"")
    bad = runner.invoke(main, ["predict", str(tmp_path / "a.wav"), "--model", str(bundle_path),
                               "--demucs-repo", str(demucs_repo)])
    assert bad.exit_code == 1


def test_predict_walks_a_folder_and_shows_its_files_as_typed(bundle_path, demucs_repo, music_files, tmp_path,
                                                             monkeypatch):
    folder = tmp_path / "albums"
    (folder / "b").mkdir(parents=True)
    for name, source in (("b/2.mp3", "mp3"), ("1.flac", "flac")):
        (folder / name).write_bytes(music_files[source].read_bytes())
    (folder / "cover.jpg").write_bytes(b"not audio, and not taken")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    table = runner.invoke(main, ["predict", "albums", "--model", str(bundle_path),
                                 "--demucs-repo", str(demucs_repo), "--windows", "1", "--jobs", "1"])
    assert table.exit_code == 0, table.output
    assert [row.split()[-1] for row in table.stdout.splitlines()[1:]] == ["albums/1.flac", "albums/b/2.mp3"]
    records = runner.invoke(main, ["predict", "albums", "--json", "--model", str(bundle_path),
                                   "--demucs-repo", str(demucs_repo), "--windows", "1", "--jobs", "1"])
    rows = [json.loads(line) for line in records.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(folder / "1.flac"), str(folder / "b" / "2.mp3")]  # records: absolute
    assert all(r["error"] is None and 0 <= r["valence"] <= 1 for r in rows)
    none = runner.invoke(main, ["predict", "empty", "--model", str(bundle_path)])
    assert none.exit_code == 1 and "error: no audio files in empty" in none.output


def test_missing_model_is_a_clean_error(tmp_path, music_files):
    out = CliRunner().invoke(main, ["predict", str(music_files["wav"]), "--model", str(tmp_path / "x.safetensors")])
    assert out.exit_code == 2 and "model bundle not found" in out.output


def test_a_model_whose_separator_id_is_unknown_is_a_one_line_error(tmp_path, music_files):
    bundle = make_bundle()
    bundle.separator = {"backend": "offline", "model": "v6"}  # measured once, never in a release
    path = bundle.save(tmp_path / "v6.safetensors")
    out = CliRunner().invoke(main, ["predict", str(music_files["wav"]), "--model", str(path)])
    errors = [line for line in out.output.splitlines() if line != "emomucs: loading model ..."]
    assert out.exit_code == 2 and len(errors) == 1 and errors[0].startswith("Error: "), out.output
    assert f"model {bundle.id} was trained with separator offline:v6, which this version does not have" in out.output
    assert "(it has offline:v1, offline:v2, offline:v3, offline:v4, offline:v5, offline:v7)" in out.output


def _card(*args) -> tuple[list[str], dict]:
    """``emomucs info ARGS`` as lines, and ``emomucs info ARGS --json`` as the object it prints."""
    runner = CliRunner()
    card = runner.invoke(main, ["info", *args])
    raw = runner.invoke(main, ["info", *args, "--json"])
    assert card.exit_code == 0 and raw.exit_code == 0, card.output + raw.output
    return card.output.splitlines(), json.loads(raw.output)


def _line(lines: list[str], label: str) -> str:
    """The card's entry ``label``, its continuation lines joined (``label`` fills the first 10 columns)."""
    n = next(i for i, line in enumerate(lines) if line[:10].rstrip() == label)
    rest = [line[11:] for line in lines[n + 1:]]
    more = rest[:next((i for i, line in enumerate(lines[n + 1:]) if line[:10].strip()), len(rest))]
    return " ".join([lines[n][11:], *more])


@pytest.mark.parametrize("model", [None, "musicnn"])
def test_info_of_a_shipped_model_is_a_short_card_and_json_the_whole_header(model):
    from emomucs_core.checkpoint import load_bundle

    bundle = load_bundle(model)
    lines, raw = _card(*(["--model", model] if model else []))
    # --json: the header exactly as stored, every digit of every value
    assert raw == json.loads(json.dumps({"id": bundle.id, **bundle.header()}))
    assert raw["data"]["inner_scores"] and raw["metrics"]["chosen_per_fold"]
    assert 8 <= len(lines) <= 12 and all(len(line) <= 88 for line in lines), lines
    assert not any(re.search(r"\d\.\d{4,}", line) for line in lines), lines  # no 16-digit floats
    assert not any("inner_scores" in line or "class_bias" in line for line in lines)
    assert _line(lines, "model") == raw["id"]
    data = raw["data"]
    assert _line(lines, "trained on") == f"the 4Q dataset, {data['clips']} clips, {data['windows']} windows each"
    nested = raw["metrics"]["nested_cv"]
    accuracy = _line(lines, "accuracy")
    assert accuracy.startswith("nested CV: quadrant ")
    for key, label in (("quadrant_acc", "quadrant"), ("valence_bacc", "valence sign (balanced)"),
                       ("arousal_bacc", "arousal sign (balanced)"), ("Q3_recall", "sad (Q3) recall"),
                       ("brier", "Brier")):
        assert f"{label} {nested[key]['mean']:.3f} ± {nested[key]['std']:.3f}" in accuracy
    assert _line(lines, "separator") == f"{raw['separator']['backend']}:{raw['separator']['model']}"
    assert _line(lines, "groups") == ", ".join(raw["config"]["descriptor_groups"])
    assert _line(lines, "loudness") == f"scaled to {raw['loudness_lufs']:g} LUFS before any feature"
    records = raw.get("extractors", [])
    assert ("musicnn" in raw["config"]["descriptor_groups"]) == bool(records) == (model == "musicnn")
    assert _line(lines, "extractors") == ("; ".join(f"musicnn {r['model']} (weights sha256 {r['weights_sha256'][:12]})"
                                                    for r in records) or "none")
    assert lines[-1] == "(everything the bundle records, values exact: emomucs info --json)"


def test_info_prints_the_model_card(bundle_path):
    lines, raw = _card("--model", str(bundle_path))
    assert _line(lines, "network") == "C2D vocals+drums+bass+other late fusion, regression head, " \
        f"{sum(p.numel() for p in make_bundle().model.parameters()):,} parameters"
    assert _line(lines, "separator") == "demucs:htdemucs"
    assert _line(lines, "trained on") == "none (random weights)"
    assert _line(lines, "accuracy") == "not measured" and _line(lines, "groups").startswith("none")
    assert raw["format_version"] == 1 and raw["id"].startswith("test-")


def test_info_card_is_readable(tmp_path):
    """Rounded numbers and ``mean ± std``, no development paths; ``--json`` keeps the raw header."""
    bundle = make_bundle()
    bundle.data = {"dataset": "4q", "source": "../shared/data/4q-dev", "clips": 600}
    bundle.metrics = {"cross_validation": {"valence_r2": {"mean": 0.39001214889942, "std": 0.0687862550938},
                                           "quadrant_acc": {"mean": 0.5, "std": 0.1}},
                      "final_val": {"quadrant_acc": 0.575123456}}
    path = bundle.save(tmp_path / "card.safetensors")
    lines, card = _card("--model", str(path))
    out = "\n".join(lines)
    assert _line(lines, "trained on") == "the 4Q dataset, 600 clips" and "4q-dev" not in out
    assert _line(lines, "loudness") == "not scaled"  # make_bundle's bundle has no loudness_lufs
    assert _line(lines, "accuracy") == "CV: quadrant 0.500 ± 0.100, valence R² 0.390 ± 0.069"
    assert "0.3900121" not in out and "0.575" not in out  # the CV figures, not the validation split's
    bundle.metrics = {"final_val": {"quadrant_acc": 0.575123456, "loss": 1.2345678}}
    lines, _ = _card("--model", str(bundle.save(tmp_path / "val.safetensors")))
    assert _line(lines, "accuracy") == "validation split: quadrant 0.575"
    assert card["data"]["source"] == "../shared/data/4q-dev"
    assert card["metrics"]["cross_validation"]["valence_r2"]["mean"] == 0.39001214889942
