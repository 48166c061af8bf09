"""`--from-results`: results of `emomucs predict --json` stored into a real beets library by path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from beets.library import Item
from beets.ui import UserError
from click.testing import CliRunner

from beetsplug.emomucs.fields import CONFIDENCE_FIELD, MARGIN_FIELD, MODEL_FIELD, source_field, value_without_album as own
from beetsplug.emomucs.ingest import check_record
from emomucs_core.constants import SOURCES
from emomucs_core.cli import main
from emomucs_core.predictor import Predictor
from plugin_fixtures import env, make_track, plugin_bundle, plugin_config, read_tags  # noqa: F401

FIELDS = ["valence", "arousal", "dominant_source", "mood", MODEL_FIELD, CONFIDENCE_FIELD, MARGIN_FIELD] + [
    source_field(s, d) for s in SOURCES for d in ("valence", "arousal")]


@pytest.fixture(scope="module")
def predicted(tmp_path_factory, plugin_bundle, demucs_repo) -> tuple[Path, Path]:
    """An album folder (MP3, FLAC, Ogg), a stray FLAC and a broken MP3, and their `emomucs predict --json` lines."""
    root = tmp_path_factory.mktemp("ingest")
    album = root / "Album"
    album.mkdir()
    for n, ext in enumerate(("mp3", "flac", "ogg"), 1):
        make_track(album / f"{n:02d} song.{ext}", seed=n, track=n)
    make_track(root / "stray.flac", seed=9)
    (root / "broken.mp3").write_bytes(b"ID3 this is not audio" * 50)
    files = sorted(album.iterdir()) + [root / "stray.flac"]
    out = CliRunner().invoke(main, ["predict", *map(str, files), "--json", "--model", str(plugin_bundle),
                                    "--demucs-repo", str(demucs_repo), "--windows", "1", "--device", "cpu"])
    assert out.exit_code == 0, out.output
    # The broken file's error record, as the engine makes it (contract 1: Prediction.to_dict()).
    error = Predictor(plugin_bundle, demucs_repo=demucs_repo, windows=1, device="cpu").predict_one(root / "broken.mp3")
    assert error.error
    results = root / "results.jsonl"
    results.write_text(out.stdout + json.dumps(error.to_dict()) + "\n")
    return album, results


def records_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def add_album(env, album: Path) -> list[Item]:
    items = [Item.from_path(str(p)) for p in sorted(album.iterdir())]
    env.lib.add_album(items)
    return items


def test_results_are_stored_like_a_local_run(env, plugin_config, predicted, caplog):
    album, results = predicted
    plugin = env.load(**plugin_config)
    items = add_album(env, album)
    env.run_command("emomucs", "--from-results", str(results), "-w")
    stray, broken = album.parent / "stray.flac", album.parent / "broken.mp3"
    messages = caplog.messages
    assert messages[messages.index("1 result matches no library item (by path):") + 1] == f"  {stray}"
    assert messages[messages.index("1 error record (nothing stored):") + 1].startswith(f"  {broken}: ")
    assert f"{results}: 3 stored, 1 error record, 1 unmatched, 0 refused, 0 unusable" in messages
    records = {r["path"]: r for r in records_of(results)}
    for item in items:
        stored, record = env.lib.get_item(item.id), records[os.fsdecode(item.path)]
        # (beets keeps flexible floats as SQLite text: 15 significant digits)
        assert stored["valence"] == pytest.approx(record["valence"], rel=1e-12)
        assert stored["arousal"] == pytest.approx(record["arousal"], rel=1e-12)
        assert stored["dominant_source"] == record["dominant_source"]
        assert stored["emomucs_model"] == plugin.model_id == record["model_id"]
        for s in SOURCES:
            assert stored[source_field(s, "valence")] == pytest.approx(record["contributions"][s]["valence"], rel=1e-12)
        tags = read_tags(item.path)  # written with -w, read back with mutagen
        assert float(tags["VALENCE"]) == pytest.approx(record["valence"], abs=5e-4)
        assert tags["DOMINANT_SOURCE"] == record["dominant_source"]
    lib_album = env.lib.albums().get()
    assert lib_album["valence"] == pytest.approx(sum(records[os.fsdecode(i.path)]["valence"] for i in items) / 3)
    # A local run over the same files finds nothing missing, and forced, it stores the same values.
    assert not [i for i in env.lib.items() if plugin.needs_analysis(i)]
    ingested = {i.id: {f: own(i, f) for f in FIELDS} for i in env.lib.items()}
    flexible = {i.id: set(i._values_flex) for i in env.lib.items()}
    env.run_command("emomucs", "-f", "-W")
    for item in env.lib.items():
        assert set(item._values_flex) == flexible[item.id]
        for f in FIELDS:
            expected = ingested[item.id][f]
            assert own(item, f) == (pytest.approx(expected, abs=1e-4) if isinstance(expected, float) else expected)


def test_error_records_store_nothing_and_other_models_need_force(env, plugin_config, predicted, tmp_path, caplog):
    album, results = predicted
    plugin = env.load(**plugin_config)
    items = add_album(env, album)
    other = [dict(r, model_id="other-model-0123abcd") for r in records_of(results)]  # as another model would write
    other_file = tmp_path / "other.jsonl"
    other_file.write_text("".join(json.dumps(r) + "\n" for r in other))
    env.run_command("emomucs", "--from-results", str(other_file))
    assert (f"4 results from model other-model-0123abcd refused: the configured model is {plugin.model_id} "
            "(-f stores them)") in caplog.text
    assert f"{other_file}: 0 stored, 1 error record, 0 unmatched, 4 refused, 0 unusable" in caplog.text
    assert all(own(env.lib.get_item(i.id), "valence") is None for i in items)
    assert own(env.lib.albums().get(), "valence") is None
    env.run_command("emomucs", "--from-results", str(other_file), "-f")
    assert {env.lib.get_item(i.id)["emomucs_model"] for i in items} == {"other-model-0123abcd"}
    assert plugin.needs_analysis(env.lib.get_item(items[0].id))  # a local run would redo them
    # an error record for an item stores nothing, not even the error
    broken = Item.from_path(str(album.parent / "stray.flac"))
    env.lib.add(broken)
    error_file = tmp_path / "error.jsonl"
    error_file.write_text(json.dumps({"path": os.fsdecode(broken.path), "error": "cannot decode", "model_id": "x"}) + "\n")
    env.run_command("emomucs", "--from-results", str(error_file))
    assert f"{os.fsdecode(broken.path)}: cannot decode" in caplog.text
    assert own(env.lib.get_item(broken.id), "emomucs_error") is None


def test_query_pretend_and_repeated_paths(env, plugin_config, predicted, tmp_path, capsys, caplog):
    album, results = predicted
    env.load(**plugin_config)
    first, second, third = add_album(env, album)
    twice = tmp_path / "twice.jsonl"
    unsound = dict(records_of(results)[0], valence=1.7)  # outside 0..1: never stored
    twice.write_text(results.read_text() + json.dumps(unsound) + "\n" + results.read_text())
    env.run_command("emomucs", "--from-results", str(twice), "-p", f"title:{first.title}")
    assert capsys.readouterr().out.count(f"{format(first)}: valence 0.") == 2  # the local run's -p line
    assert own(env.lib.get_item(first.id), "valence") is None  # pretend: nothing stored
    assert f"{twice}: record 6: unusable (valence is 1.7, not a number in [0, 1])" in caplog.messages
    assert (f"{twice}: 2 would be stored (pretend), 2 error records, 6 unmatched, 0 refused, 1 unusable, "
            "5 repeated paths (the later record wins)") in caplog.text
    assert "results match no item of the query (by path)" in caplog.text
    env.run_command("emomucs", "--from-results", str(twice), f"title:{first.title}")
    assert own(env.lib.get_item(first.id), "valence") is not None
    assert own(env.lib.get_item(second.id), "valence") is None and own(env.lib.get_item(third.id), "valence") is None


def test_unreadable_results_file_is_one_clear_error(env, plugin_config, tmp_path):
    env.load(**plugin_config)
    with pytest.raises(UserError, match=r"missing.jsonl: no such result file"):
        env.run_command("emomucs", "--from-results", str(tmp_path / "missing.jsonl"))
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"path": "/m/a.flac"}\n{broken\n{"path": "/m/b.flac"}\n')
    with pytest.raises(UserError, match=r"torn.jsonl: line 2 is not a JSON object"):
        env.run_command("emomucs", "--from-results", str(torn))


GOOD = {"path": "/m/a.flac", "valence": 0.4, "arousal": 0.7, "model_id": "m-1", "dominant_source": "drums", "error": None,
        "contributions": {s: {"valence": 0.01, "arousal": -0.02} for s in SOURCES}}


@pytest.mark.parametrize("change, reason", [
    ({}, None),
    ({"error": "cannot decode", "valence": None}, None),
    ({"path": "rel/a.flac"}, "not absolute"),
    ({"valence": 1.3}, "valence is 1.3"),
    ({"arousal": float("nan")}, "arousal is nan"),
    ({"arousal": "0.5"}, "not a number"),
    ({"model_id": ""}, "no model id"),
    ({"contributions": {"kazoo": {"valence": 0.1, "arousal": 0.1}}}, "unknown source 'kazoo'"),
    ({"contributions": {"bass": {"valence": 0.1}}}, "contribution of bass is not two numbers"),
    ({"dominant_source": "vocals", "contributions": {}}, "dominant source 'vocals' has no contribution"),
])
def test_unsound_records_are_named_not_stored(change, reason):
    problem = check_record({**GOOD, **change}, SOURCES)
    assert problem is None if reason is None else reason in problem


def test_ray_engine_parquet_parts_are_stored(env, plugin_config, predicted, tmp_path, caplog):
    """The Ray engine's Parquet output (a folder of parts, written by its ResultWriter) loads like JSON lines."""
    pytest.importorskip("pyarrow")
    from emomucs_core.results import ResultWriter

    album, results = predicted
    env.load(**plugin_config)
    items = add_album(env, album)
    rows = records_of(results)
    out = tmp_path / "results.parquet"
    with ResultWriter(out) as writer:
        writer.write(rows[:2])
        writer.write(rows[2:])
    env.run_command("emomucs", "--from-results", str(out))
    assert f"{out}: 3 stored, 1 error record, 1 unmatched, 0 refused, 0 unusable" in caplog.messages
    records = {r["path"]: r for r in rows}
    for item in items:
        stored, record = env.lib.get_item(item.id), records[os.fsdecode(item.path)]
        assert stored["valence"] == pytest.approx(record["valence"], rel=1e-12)
        assert stored[source_field("bass", "arousal")] == pytest.approx(record["contributions"]["bass"]["arousal"],
                                                                        rel=1e-12)
