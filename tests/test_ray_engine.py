"""The Ray engine on a real local Ray instance (2 CPUs, started once for this module) over generated audio.

Only the weights are not real: a small random-weight HTDemucs loaded through
demucs' own loader and an untrained EmoMucs bundle (see conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from emomucs_core.predictor import Predictor
from emomucs_core.ray_engine import ACTOR_DIED, INSTALL_HINT, predict_on_ray, start_ray
from emomucs_core.results import collect_inputs, iter_results
from emomucs_core.testing import synth_music, write_audio


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray instance with 2 CPUs, started by the engine's own ``start_ray``; yields its address."""
    pytest.importorskip("ray.data", reason="the Ray engine's tests need the [ray] extra")
    ray = start_ray(jobs=2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A folder tree of short songs in three formats, two bad files and a text file to be ignored."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "album").mkdir()
    for i, name in enumerate(["a.wav", "b.flac", "album/c.mp3", "album/d.ogg", "e.wav", "album/f.flac"]):
        write_audio(root / name, synth_music(6 + i, 22050, seed=10 + i), 22050)
    (root / "empty.mp3").write_bytes(b"")
    (root / "album" / "text.flac").write_text("not audio\n" * 50)
    (root / "notes.txt").write_text("not an input")
    return root


@pytest.fixture(scope="module")
def predictor_kwargs(bundle_path, demucs_repo) -> dict:
    return dict(bundle=bundle_path, demucs_repo=demucs_repo, windows=1, device="cpu")


def _by_path(records) -> dict[str, dict]:
    return {r["path"]: r for r in records}


def _assert_same_values(record: dict, expected: dict) -> None:
    """Same fields, same error, and the same values up to float noise (windows batch differently)."""
    assert record.keys() == expected.keys()
    assert (record["error"], record["model_id"]) == (expected["error"], expected["model_id"])
    if expected["error"] is None:
        assert record["valence"] == pytest.approx(expected["valence"], abs=1e-5)
        assert record["arousal"] == pytest.approx(expected["arousal"], abs=1e-5)
        assert record["dominant_source"] == expected["dominant_source"]
        assert record["contributions"].keys() == expected["contributions"].keys()
        for source, c in expected["contributions"].items():
            assert record["contributions"][source] == pytest.approx(c, abs=1e-5)


@pytest.fixture(scope="module")
def jsonl_run(ray_address, corpus, predictor_kwargs, tmp_path_factory):
    """The whole corpus analysed on Ray into a JSON-lines file: (inputs, output, summary)."""
    inputs = collect_inputs([corpus])
    out = tmp_path_factory.mktemp("run") / "results.jsonl"
    return inputs, out, predict_on_ray(inputs, out, files_per_batch=3, **predictor_kwargs)


def test_same_values_as_the_local_predictor_and_a_rerun_skips_everything(jsonl_run, predictor_kwargs):
    inputs, out, summary = jsonl_run
    assert len(inputs) == 8 and all(p.is_absolute() for p in inputs)
    assert (summary.ok, summary.errors, summary.skipped) == (6, 2, 0)
    records = list(iter_results(out))
    assert sorted(r["path"] for r in records) == sorted(map(str, inputs))
    assert sorted(Path(r["path"]).name for r in records if r["error"]) == ["empty.mp3", "text.flac"]

    local = {str(r.path): r.to_dict() for r in Predictor(**predictor_kwargs).predict(inputs)}
    for path, record in _by_path(records).items():
        _assert_same_values(record, local[path])

    before = out.read_bytes()
    again = predict_on_ray(inputs, out, **predictor_kwargs)
    assert (again.ok, again.errors, again.skipped) == (0, 0, 8)
    assert out.read_bytes() == before


def test_relative_inputs_get_one_record_each(jsonl_run, predictor_kwargs, tmp_path, monkeypatch):
    """Relative paths are made absolute before the bookkeeping (they once got a second, bogus record each)."""
    inputs, _, _ = jsonl_run
    good = [p for p in inputs if p.name not in ("empty.mp3", "text.flac")][:2]
    monkeypatch.chdir(good[0].parent)
    out = tmp_path / "relative.jsonl"
    summary = predict_on_ray([Path(os.path.relpath(p)) for p in good], out, **predictor_kwargs)
    assert (summary.ok, summary.errors) == (2, 0)
    assert sorted(r["path"] for r in iter_results(out)) == sorted(map(str, good))


def test_parquet_output_holds_the_same_records(jsonl_run, corpus, predictor_kwargs, tmp_path):
    import pyarrow.parquet as pq

    inputs = collect_inputs([corpus / "album"])
    parquet = tmp_path / "r.parquet"
    predict_on_ray(inputs[:1], parquet, **predictor_kwargs)
    predict_on_ray(inputs, parquet, files_per_batch=2, **predictor_kwargs)  # resumes: the rest only
    assert pq.read_table(parquet).num_rows == len(inputs)  # the directory reads as one table
    from_parquet, from_jsonl = _by_path(iter_results(parquet)), _by_path(iter_results(jsonl_run[1]))
    assert sorted(from_parquet) == sorted(map(str, inputs))
    for path, record in from_parquet.items():
        _assert_same_values(record, from_jsonl[path])


def _cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "emomucs_core.cli", "predict", "--engine", "ray", *map(str, args)]


def test_a_killed_driver_loses_nothing_and_the_rerun_writes_each_file_once(
        ray_address, corpus, bundle_path, demucs_repo, tmp_path):
    out = tmp_path / "results.jsonl"
    args = (corpus, "--out", out, "--address", ray_address, "--files-per-batch", 1, "--windows", 1,
            "--model", bundle_path, "--demucs-repo", demucs_repo, "--device", "cpu")
    driver = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out.exists() and out.read_text().count("\n") >= 2):
        assert driver.poll() is None, driver.stderr.read()
        assert time.monotonic() < deadline, "no result within 300 s"
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    first = list(iter_results(out))
    assert 2 <= len(first) < 8, "the driver was to be killed mid-run"
    with out.open("a") as handle:  # as if the kill had come in the middle of a write
        handle.write('{"path": "/torn')

    rerun = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(first)} already there" in rerun.stderr
    paths = [r["path"] for r in iter_results(out)]
    assert Counter(paths) == Counter(map(str, collect_inputs([corpus])))
    assert out.read_text().endswith("}\n") and "/torn" not in out.read_text()


def _busy_predictor_actors() -> list[int]:
    """Pids of Ray worker processes running a batch of the predictor actor (their process title says so)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            title = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::MapWorker(MapBatches(PredictorActor)).submit"):
            pids.append(int(proc.name))
    return pids


def test_an_actor_that_dies_on_every_try_gives_error_records_and_the_run_goes_on(
        ray_address, corpus, predictor_kwargs, tmp_path):
    """SIGKILL the one actor while it runs the first batch, on both tries; the second batch finishes."""
    inputs = [corpus / "a.wav", corpus / "b.flac", corpus / "e.wav", corpus / "album" / "c.mp3"]
    out = tmp_path / "results.jsonl"
    killed: list[int] = []

    def kill_the_first_batch_twice() -> None:
        deadline = time.monotonic() + 300
        while len(killed) < 2 and time.monotonic() < deadline:
            for pid in set(_busy_predictor_actors()) - set(killed):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.1)

    killer = threading.Thread(target=kill_the_first_batch_twice, daemon=True)
    killer.start()
    summary = predict_on_ray(inputs, out, files_per_batch=2, actors=1, **predictor_kwargs)
    killer.join(timeout=5)
    records = _by_path(iter_results(out))
    assert len(killed) == 2 and sorted(records) == sorted(map(str, inputs))
    assert [records[str(p)]["error"] for p in inputs] == [ACTOR_DIED, ACTOR_DIED, None, None]
    assert (summary.ok, summary.errors) == (2, 2)
    assert all(0 <= records[str(p)]["valence"] <= 1 for p in inputs[2:])


def test_without_ray_the_engine_says_how_to_install_it(tmp_path, music_files):
    blocked = "import sys; sys.modules['ray'] = None; from emomucs_core.cli import main; main()"
    out = subprocess.run([sys.executable, "-c", blocked, "predict", "--engine", "ray", str(music_files["wav"]),
                          "--out", str(tmp_path / "r.jsonl")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2  # a set-up error, like a model that cannot load
    assert out.stderr.strip().splitlines() == [f"Error: {INSTALL_HINT}"]
