"""Result files (JSON lines and Parquet): round trips, torn lines, resume, and the local engine's ``--out``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from emomucs_core.cli import main
from emomucs_core.constants import AUDIO_EXTENSIONS
from emomucs_core.predictor import Prediction
from emomucs_core.results import ResultsError, ResultWriter, collect_inputs, iter_results, pending_paths
from emomucs_core.testing import write_audio

RECORDS = [
    Prediction(Path("/music/a.flac"), valence=0.61, arousal=0.25, dominant_source="vocals",
               contributions={"vocals": {"valence": 0.1, "arousal": -0.02}},
               windows=[{"start": 5.0, "valence": 0.61, "arousal": 0.25}], model_id="m-1", elapsed=1.5).to_dict(),
    Prediction(Path("/music/b.mp3"), model_id="m-1", error="not a readable audio file").to_dict(),
]


@pytest.mark.parametrize("name", ["r.jsonl", "r.parquet"])
def test_records_read_back_as_written_batch_by_batch(tmp_path, name):
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    out = tmp_path / name
    with ResultWriter(out) as writer:
        writer.write(RECORDS[1:])  # an all-error batch first: nulls where the next batch has floats
    with ResultWriter(out) as writer:
        writer.write(RECORDS[:1])
    assert list(iter_results(out)) == RECORDS[1:] + RECORDS[:1]


def test_an_all_error_part_has_the_schema_of_the_others(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "r.parquet"
    for record in RECORDS:
        with ResultWriter(out) as writer:
            writer.write([record])
    schemas = [pq.read_schema(part) for part in sorted(out.glob("*.parquet"))]
    assert schemas[0].equals(schemas[1], check_metadata=True)
    assert pq.read_table(out).column("valence").to_pylist() == [0.61, None]


@pytest.mark.parametrize("torn", ['{"path": "/music/b.mp3", "val', json.dumps(RECORDS[1])])
def test_a_last_line_without_newline_is_ignored_and_cut_before_the_next_append(tmp_path, torn):
    """Half a record, or a whole one whose newline the kill cut off: redone either way, never twice."""
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps(RECORDS[0]) + "\n" + torn)
    assert [r["path"] for r in iter_results(out)] == ["/music/a.flac"]
    assert pending_paths([Path("/music/a.flac"), Path("/music/b.mp3")], out) == [Path("/music/b.mp3")]
    with ResultWriter(out) as writer:
        writer.write(RECORDS[1:])
    assert list(iter_results(out)) == RECORDS


def test_a_bad_line_inside_the_file_is_an_error_naming_it(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps(RECORDS[0]) + "\nnot json\n" + json.dumps(RECORDS[1]) + "\n")
    with pytest.raises(ResultsError, match=r"r.jsonl: line 2 is not a JSON object"):
        list(iter_results(out))


def test_inputs_are_absolute_deduplicated_and_directories_walked(tmp_path, monkeypatch):
    (tmp_path / "b").mkdir()
    for name in ["b/2.mp3", "b/1.FLAC", "b/cover.jpg", "a.wav"]:
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert collect_inputs(["a.wav", "b", tmp_path / "a.wav", "gone.ogg"]) == [
        tmp_path / "a.wav", tmp_path / "b" / "1.FLAC", tmp_path / "b" / "2.mp3", tmp_path / "gone.ogg"]


def test_a_directory_gives_every_format_the_tests_can_write(tmp_path):
    audio = 0.1 * np.sin(np.linspace(0, 2000, 24000, dtype=np.float32))[:, None]
    written = [write_audio(tmp_path / f"a{ext}", audio, 48000) for ext in AUDIO_EXTENSIONS]
    assert collect_inputs([tmp_path]) == sorted(written)


def test_local_engine_out_writes_every_file_once_and_resumes(bundle_path, demucs_repo, music_files, tmp_path):
    out = tmp_path / "results.jsonl"
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio")
    args = ["predict", "--model", str(bundle_path), "--demucs-repo", str(demucs_repo), "--windows", "1", "-j", "1",
            "--out", str(out)]
    first = CliRunner().invoke(main, [*args, str(music_files["wav"]), str(bad)])
    assert first.exit_code == 0, first.output
    assert f"error: {bad}: not an audio file" in first.output
    second = CliRunner().invoke(main, [*args, str(music_files["wav"]), str(bad), str(music_files["flac"])])
    assert second.exit_code == 0, second.output
    assert "1 analysed, 0 errors, 2 already there" in second.output
    records = list(iter_results(out))
    assert [r["path"] for r in records] == [str(music_files["wav"]), str(bad), str(music_files["flac"])]
    assert [r["error"] is None for r in records] == [True, False, True]
