"""The plugin end to end: a real beets library, real audio, the small test model through the real Predictor."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

import pytest
from beets.library import Item
from beets.ui import UserError

from beetsplug.emomucs.fields import source_field, value_without_album
from emomucs_core.constants import SOURCES
from plugin_fixtures import FORMATS, env, immutable, make_track, other_tags, plugin_bundle, plugin_config, read_tags  # noqa: F401


@pytest.fixture(scope="module")
def album_dir(tmp_path_factory) -> Path:
    """One album folder with a track in every claimed format (generated once; tests copy it)."""
    folder = tmp_path_factory.mktemp("src") / "Synth Album"
    folder.mkdir()
    for n, ext in enumerate(FORMATS, 1):
        make_track(folder / f"{n:02d} track.{ext}", seed=n, track=n)
    return folder


def copy_album(album_dir: Path, dest: Path, exts=tuple(FORMATS)) -> Path:
    dest.mkdir(parents=True)
    for path in album_dir.iterdir():
        if path.suffix[1:] in exts:
            shutil.copy(path, dest / path.name)
    return dest


def digest(path) -> str:
    return hashlib.sha256(Path(os.fsdecode(path)).read_bytes()).hexdigest()


def assert_analysed(item: Item, model_id: str) -> None:
    assert 0 <= item["valence"] <= 1 and 0 <= item["arousal"] <= 1
    assert item["dominant_source"] in SOURCES
    assert item["emomucs_model"] == model_id
    for source in SOURCES:
        assert isinstance(item[source_field(source, "valence")], float)
        assert isinstance(item[source_field(source, "arousal")], float)
    assert value_without_album(item, "emomucs_error") is None


def assert_tagged(item: Item) -> None:
    tags = read_tags(item.path)
    assert float(tags["VALENCE"]) == pytest.approx(item["valence"], abs=5e-4)
    assert float(tags["AROUSAL"]) == pytest.approx(item["arousal"], abs=5e-4)
    assert len(tags["VALENCE"].split(".")[1]) >= 3
    assert tags["DOMINANT_SOURCE"] == item["dominant_source"]


# -- import ----------------------------------------------------------------------


def test_import_as_is_every_format(env, plugin_config, album_dir):
    plugin = env.load(**plugin_config)
    src = copy_album(album_dir, env.temp_path / "in" / "Synth Album")
    before = {p.name: other_tags(p) for p in src.iterdir()}
    env.import_folder(src.parent, copy=False)
    items = list(env.lib.items())
    assert sorted(Path(os.fsdecode(i.path)).suffix[1:] for i in items) == sorted(FORMATS)
    for item in items:
        assert_analysed(item, plugin.model_id)
        assert Path(os.fsdecode(item.path)).parent == src  # as-is: files stay where they are
        assert_tagged(item)  # beets does not write as-is imports; the plugin does
        assert other_tags(item.path) == before[Path(os.fsdecode(item.path)).name]
    album = env.lib.albums().get()
    assert album["valence"] == pytest.approx(sum(i["valence"] for i in items) / len(items))
    assert album["arousal"] == pytest.approx(sum(i["arousal"] for i in items) / len(items))
    assert [a.id for a in env.lib.albums("valence:0..1")] == [album.id]
    assert len(plugin._predictors) == 1


def test_import_copy_tags_the_copies_only(env, plugin_config, album_dir):
    plugin = env.load(**plugin_config)
    src = copy_album(album_dir, env.temp_path / "in" / "A", exts=("mp3", "m4a"))
    originals = {p: digest(p) for p in src.iterdir()}
    env.import_folder(src.parent, copy=True)
    assert {p: digest(p) for p in src.iterdir()} == originals
    for item in env.lib.items():
        assert str(env.lib_path) in os.fsdecode(item.path)
        assert_analysed(item, plugin.model_id)
        assert_tagged(item)


def test_import_move_and_two_albums_in_one_session(env, plugin_config, album_dir):
    plugin = env.load(**plugin_config)
    copy_album(album_dir, env.temp_path / "in" / "A", exts=("flac",))
    b = copy_album(album_dir, env.temp_path / "in" / "B", exts=("ogg",))
    for path in b.iterdir():  # a second album
        make_track(path, seed=9, album="Other Album", track=1)
    env.import_folder(env.temp_path / "in", move=True, copy=False)
    assert not list((env.temp_path / "in").rglob("*.flac")) and not list((env.temp_path / "in").rglob("*.ogg"))
    items = list(env.lib.items())
    assert len(items) == 2 and len(env.lib.albums()) == 2
    for item in items:
        assert os.path.exists(item.path) and str(env.lib_path) in os.fsdecode(item.path)
        assert_analysed(item, plugin.model_id)
        assert_tagged(item)
    assert len(plugin._predictors) == 1  # the model was loaded once for the session


def test_import_with_autotag_apply_beets_writes_the_tags(env, plugin_config, album_dir):
    """An autotagged (applied) album: beets writes the files itself, with the plugin's tags added."""
    from beets.test.helper import AutotagStub
    from mediafile import MediaFile

    plugin = env.load(**plugin_config)
    src = copy_album(album_dir, env.temp_path / "in" / "A", exts=("mp3",))
    stub = AutotagStub(AutotagStub.IDENT).install()
    try:
        env.setup_importer(src.parent, autotag=True, copy=True).run()
    finally:
        stub.restore()
    item = env.lib.items().get()
    assert item.title == "Applied Track 1" and MediaFile(os.fsdecode(item.path)).title == "Applied Track 1"
    assert_analysed(item, plugin.model_id)
    assert_tagged(item)


def test_import_without_write_stores_fields_but_no_tags(env, plugin_config, album_dir):
    plugin = env.load(**plugin_config)
    env.config["import"]["write"] = False
    src = copy_album(album_dir, env.temp_path / "in" / "A", exts=("mp3",))
    env.import_folder(src.parent, copy=False)
    item = env.lib.items().get()
    assert_analysed(item, plugin.model_id)
    assert read_tags(item.path) == {}


def test_import_with_auto_off_analyses_nothing(env, plugin_config, album_dir):
    env.load(**plugin_config, auto=False)
    src = copy_album(album_dir, env.temp_path / "in" / "A", exts=("mp3",))
    env.import_folder(src.parent, copy=False)
    item = env.lib.items().get()
    assert value_without_album(item, "valence") is None and read_tags(item.path) == {}


# -- the command -------------------------------------------------------------------


def test_command_analyses_missing_only_and_counts(env, plugin_config, capsys):
    plugin = env.load(**plugin_config)
    a, b, c = env.add_tracks("cmd", ["mp3", "flac", "opus"])
    env.run_command("emomucs", "-c")
    assert capsys.readouterr().out.strip() == "3 items to analyse"
    env.run_command("emomucs", "-W", f"title:{a.title}")
    assert_analysed(env.lib.get_item(a.id), plugin.model_id)
    assert value_without_album(env.lib.get_item(b.id), "valence") is None
    env.run_command("emomucs", "--missing")
    listed = capsys.readouterr().out.splitlines()
    assert listed == [format(env.lib.get_item(i.id)) for i in (b, c)]
    first = env.lib.get_item(a.id)["valence"]
    item = env.lib.get_item(a.id)
    item["valence"] = 0.999
    item.store()
    env.run_command("emomucs", "-W")  # a is done: only b and c
    assert env.lib.get_item(a.id)["valence"] == 0.999
    for i in (b, c):
        assert_analysed(env.lib.get_item(i.id), plugin.model_id)
    env.run_command("emomucs", "-c")
    assert capsys.readouterr().out.strip().endswith("0 items to analyse")
    env.run_command("emomucs", "-f", "-W", f"title:{a.title}")  # force re-analyses
    assert env.lib.get_item(a.id)["valence"] == pytest.approx(first)
    # A different model id counts as missing.
    item = env.lib.get_item(c.id)
    item["emomucs_model"] = "older-model"
    item.store()
    env.run_command("emomucs", "-c")
    assert capsys.readouterr().out.strip().endswith("1 item to analyse")


def test_pretend_changes_nothing(env, plugin_config, capsys):
    env.load(**plugin_config)
    items = env.add_tracks("pre", ["mp3", "flac"])
    digests = [digest(i.path) for i in items]
    env.run_command("emomucs", "-p", "-w")
    out = capsys.readouterr().out
    for item in items:
        line = next(line for line in out.splitlines() if line.startswith(format(item) + ": "))
        assert "valence 0." in line and "arousal 0." in line and "dominant_source " in line
        fresh = env.lib.get_item(item.id)
        assert value_without_album(fresh, "valence") is None and value_without_album(fresh, "emomucs_model") is None
    assert [digest(i.path) for i in items] == digests
    assert env.lib.albums().get().get("valence") is None


def test_write_options_device_and_threads(env, plugin_config):
    plugin = env.load(**plugin_config, write=True)
    w, nw = env.add_tracks("wr", ["m4a", "wma"], album=False)
    env.run_command("emomucs", "--device", "cpu", "-t", "1", f"title:{w.title}")
    assert_tagged(env.lib.get_item(w.id))
    assert ("cpu", 1) in plugin._predictors
    before = other_tags(nw.path)
    env.run_command("emomucs", "-W", f"title:{nw.title}")
    assert value_without_album(env.lib.get_item(nw.id), "valence") is not None and read_tags(nw.path) == {}
    env.run_command("emomucs", "-w", "-f", f"title:{nw.title}")
    assert_tagged(env.lib.get_item(nw.id))
    assert other_tags(nw.path) == before


def test_corrupt_file_in_the_middle_of_a_batch(env, plugin_config, caplog):
    plugin = env.load(**plugin_config)
    good1, bad, good2 = env.add_tracks("bad", ["mp3", "mp3", "flac"])
    Path(os.fsdecode(bad.path)).write_bytes(b"ID3 this is not audio" * 100)
    with caplog.at_level(logging.INFO), pytest.raises(UserError, match="1 track of 3 failed"):  # exit status 1
        env.run_command("emomucs", "-w")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and os.fsdecode(bad.path) in errors[0]
    for item in (good1, good2):
        assert_analysed(env.lib.get_item(item.id), plugin.model_id)
    fresh = env.lib.get_item(bad.id)
    assert fresh["emomucs_error"] and value_without_album(fresh, "valence") is None
    assert (fresh.title, fresh.artist, fresh.album) == (bad.title, bad.artist, bad.album)
    assert env.lib.albums().get()["valence"] == pytest.approx((env.lib.get_item(good1.id)["valence"]
                                                                + env.lib.get_item(good2.id)["valence"]) / 2)
    # The failure is remembered: not retried unless forced, but said.
    caplog.clear()
    env.run_command("emomucs", "-c")
    assert "1 track failed earlier (see `beet ls emomucs_error::.`, `-f` retries)" in caplog.messages
    with pytest.raises(UserError):
        env.run_command("emomucs", "-f", f"title:{bad.title}")
    assert sum(r.levelno >= logging.ERROR for r in caplog.records) == 1
    # Once the file is fixed, a forced run clears the error.
    make_track(Path(os.fsdecode(bad.path)), seed=4)
    env.run_command("emomucs", "-f", f"title:{bad.title}")
    assert_analysed(env.lib.get_item(bad.id), plugin.model_id)


def test_read_only_file_keeps_database_values(env, plugin_config, caplog):
    plugin = env.load(**plugin_config)
    (item,) = env.add_tracks("ro", ["flac"])
    before = digest(item.path)
    with immutable(item.path), caplog.at_level(logging.INFO), pytest.raises(UserError, match="could not be written"):
        env.run_command("emomucs", "-w")
    assert "1 analysed, 0 failed, 1 tag write failed" in caplog.messages
    assert_analysed(env.lib.get_item(item.id), plugin.model_id)
    assert digest(item.path) == before
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "could not write tags" in errors[0] and os.fsdecode(item.path) in errors[0]


def test_interrupted_run_resumes_with_what_is_missing(env, plugin_config, capsys):
    plugin = env.load(**plugin_config)
    items = env.add_tracks("int", ["mp3", "flac", "ogg", "m4a"])
    real = plugin.predictions
    seen: list[list[str]] = []

    def interrupted(paths, **options):
        seen.append([Item.from_path(p).title for p in paths])
        for n, prediction in enumerate(real(paths, **options)):
            if n == 2:
                raise KeyboardInterrupt
            yield prediction

    plugin.predictions = interrupted
    with pytest.raises(KeyboardInterrupt):
        env.run_command("emomucs", "-w")
    done = [env.lib.get_item(i.id) for i in items[:2]]
    for item in done:
        assert_analysed(item, plugin.model_id)
        assert_tagged(item)
    for item in items[2:]:
        assert value_without_album(env.lib.get_item(item.id), "valence") is None and read_tags(item.path) == {}
    album = env.lib.albums().get()
    assert album["valence"] == pytest.approx(sum(i["valence"] for i in done) / 2)
    plugin.predictions = real
    env.run_command("emomucs", "-c")
    assert capsys.readouterr().out.strip().endswith("2 items to analyse")
    plugin.predictions = interrupted
    env.run_command("emomucs", "-w")
    assert seen[-1] == [i.title for i in items[2:]]
    for item in items:
        assert_analysed(env.lib.get_item(item.id), plugin.model_id)
    assert env.lib.albums().get()["valence"] == pytest.approx(
        sum(env.lib.get_item(i.id)["valence"] for i in items) / 4)


def test_custom_fields_and_tags_off(env, plugin_config):
    env.load(**plugin_config, tags=False, write=True,
             fields={"valence": "emo_v", "arousal": "emo_a", "dominant_source": "emo_src"})
    (item,) = env.add_tracks("cf", ["mp3"])
    env.run_command("emomucs", "-w")
    fresh = env.lib.get_item(item.id)
    assert 0 <= fresh["emo_v"] <= 1 and fresh["emo_src"] in SOURCES and value_without_album(fresh, "valence") is None
    assert read_tags(item.path) == {}
    assert [i.id for i in env.lib.items("emo_v:0..1")] == [item.id]
    assert env.lib.albums("emo_v:0..1").get() is not None


def test_missing_model_is_a_clear_error(env, plugin_config, tmp_path):
    from beets.ui import UserError

    env.load(**{**plugin_config, "model": str(tmp_path / "nope.safetensors")})
    env.add_tracks("mm", ["mp3"])
    with pytest.raises(UserError, match="nope.safetensors"):
        env.run_command("emomucs")


def test_unavailable_device_is_a_clear_error(env, plugin_config):
    from beets.ui import UserError

    env.load(**plugin_config)
    env.add_tracks("dev", ["mp3"])
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="cuda"):
            env.run_command("emomucs", "--device", "cuda")
    with pytest.raises(UserError, match="cannot set up the model"):
        env.run_command("emomucs", "--device", "bogus")


def test_import_with_a_missing_model_imports_anyway(env, plugin_config, album_dir, tmp_path, caplog):
    env.load(**{**plugin_config, "model": str(tmp_path / "nope.safetensors")})
    src = copy_album(album_dir, env.temp_path / "in" / "A", exts=("mp3", "flac"))
    with caplog.at_level(logging.INFO):
        env.import_folder(src.parent, copy=False)
    assert len(env.lib.items()) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "nope.safetensors" in errors[0]


def test_jobs_spread_the_files_over_workers_with_the_same_values(env, plugin_config):
    """``-j 2`` on more than 4 * 2 files uses two worker processes; the parent stores the same values as ``-j 1``."""
    env.load(**plugin_config)
    items = env.add_tracks("jobs", ["flac"] * 9)
    env.run_command("emomucs", "-W", "-j", "2")
    parallel = [env.lib.get_item(i.id) for i in items]
    assert all(value_without_album(i, "valence") is not None for i in parallel)
    env.run_command("emomucs", "-f", "-W", "-j", "1")
    for before, item in zip(parallel, items):
        after = env.lib.get_item(item.id)
        assert after["valence"] == pytest.approx(before["valence"], abs=1e-4)
        assert after["arousal"] == pytest.approx(before["arousal"], abs=1e-4)
        assert after["dominant_source"] == before["dominant_source"]


def test_model_option_takes_a_built_in_bundle_name(env, plugin_config, tmp_path, caplog):
    """``model: musicnn`` names the shipped bundle (beets would turn it into a path that does not exist)."""
    from emomucs_core.bundle_id import BUILTIN_BUNDLES, bundle_id

    plugin = env.load(**{**plugin_config, "model": "musicnn", "demucs_repo": None})
    assert plugin._path_option("model") == "musicnn"
    assert plugin.model_id == bundle_id(BUILTIN_BUNDLES["musicnn"]) != bundle_id(None)
    (item,) = env.add_tracks("mn", ["flac"])
    with caplog.at_level(logging.INFO):
        env.run_command("emomucs")
    assert "loading model musicnn…" in caplog.messages
    assert_analysed(env.lib.get_item(item.id), plugin.model_id)


def test_model_option_prefers_an_existing_file_named_like_a_built_in_bundle(env, plugin_config, plugin_bundle,
                                                                             tmp_path, monkeypatch):
    """A file called ``musicnn`` where beets resolves the name is a path, not the built-in bundle."""
    from emomucs_core.bundle_id import bundle_id

    shutil.copy(plugin_bundle, tmp_path / "musicnn")
    monkeypatch.chdir(tmp_path)
    plugin = env.load(**{**plugin_config, "model": "musicnn"})
    assert plugin._path_option("model") == str(tmp_path / "musicnn")
    assert plugin.model_id == bundle_id(plugin_bundle)
