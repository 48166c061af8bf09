"""The emomucs command line, run end to end as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_info_prints_the_model_card(bundle_path):
    out = CliRunner().invoke(main, ["info", "--model", str(bundle_path)])
    assert out.exit_code == 0
    assert "C2D vocals+drums+bass+other late fusion" in out.output
    assert "separator  demucs:htdemucs" in out.output
    card = json.loads(CliRunner().invoke(main, ["info", "--model", str(bundle_path), "--json"]).output)
    assert card["format_version"] == 1 and card["id"].startswith("test-")


def test_info_card_is_readable(tmp_path):
    """Rounded numbers and ``mean ± std``, no development paths; ``--json`` keeps the raw header."""
    bundle = make_bundle()
    bundle.data = {"dataset": "4q", "source": "../shared/data/4q-dev", "clips": 600}
    bundle.metrics = {"cross_validation": {"valence_r2": {"mean": 0.39001214889942, "std": 0.0687862550938}},
                      "final_val": {"quadrant_acc": 0.575123456}}
    path = bundle.save(tmp_path / "card.safetensors")
    out = CliRunner().invoke(main, ["info", "--model", str(path)]).output
    assert "data       dataset 4q, clips 600\n" in out and "4q-dev" not in out
    assert "loudness   not scaled\n" in out  # make_bundle's bundle has no loudness_lufs
    assert "valence_r2 0.390 ± 0.069" in out and "quadrant_acc 0.575\n" in out and "0.3900121" not in out
    card = json.loads(CliRunner().invoke(main, ["info", "--model", str(path), "--json"]).output)
    assert card["data"]["source"] == "../shared/data/4q-dev"
    assert card["metrics"]["cross_validation"]["valence_r2"]["mean"] == 0.39001214889942
