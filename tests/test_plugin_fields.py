"""Plugin fields without analysis: types, numeric queries, type cache, update/write, laziness."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import beets.plugins
import pytest
from beets.library import Album, Item, Library
from mediafile import MediaFile

from beetsplug.emomucs import EmoMucsPlugin
from beetsplug.emomucs.albums import update_album
from beetsplug.emomucs.fields import emotion_float, source_field
from beetsplug.emomucs.writing import tag_values
from plugin_fixtures import BeetsEnv, env, make_track, other_tags, plugin_bundle, plugin_config, read_tags  # noqa: F401

VALUES = {"high": (0.75, 0.9, "drums"), "mid": (0.5, 0.3, "vocals"), "low": (0.25, 0.1, "bass")}


def store_values(lib, titles=VALUES, prefix="", model="test-00000000"):
    """Items with given (valence, arousal, dominant) plus one never analysed; returns title -> item."""
    items = {}
    for title, (v, a, d) in titles.items():
        item = Item(title=title, path=f"/nonexistent/{title}.mp3".encode())
        item[f"{prefix}valence"], item[f"{prefix}arousal"], item[f"{prefix}dominant_source"] = v, a, d
        item["emomucs_model"] = model
        lib.add(item)
        items[title] = item
    items["never"] = Item(title="never", path=b"/nonexistent/never.mp3")
    lib.add(items["never"])
    return items


def titles(lib, query, album=False):
    return sorted(x.get("album" if album else "title") for x in (lib.albums(query) if album else lib.items(query)))


def test_fields_are_typed(env):
    env.load()
    valence = emotion_float("valence")
    assert Item._types["valence"] is valence and Item._types["arousal"] is emotion_float("arousal")
    assert Item._types[source_field("drums", "valence")] is emotion_float(source_field("drums", "valence"))
    assert Album._types["valence"] is valence
    assert valence.format(0.61234) == "0.612" and valence.null is None
    assert valence.format(None) == ""  # never 0.000 for a missing value


def test_range_queries_are_numeric_and_skip_unanalysed_items(env):
    env.load()
    store_values(env.lib)
    # A substring query would match nothing for "0.5.." and "..0.3"; a numeric one matches values.
    assert titles(env.lib, "valence:0.5..") == ["high", "mid"]
    assert titles(env.lib, "arousal:..0.3") == ["low", "mid"]
    assert titles(env.lib, "valence:0.2..0.3") == ["low"]
    assert titles(env.lib, "valence:0.5") == ["mid"]
    assert titles(env.lib, "dominant_source:drums") == ["high"]
    # Never analysed: no range matches it, however wide.
    assert "never" not in titles(env.lib, "valence:..1") + titles(env.lib, "valence:0..") + titles(env.lib, "valence:-9..9")
    # Sorting is numeric too.
    assert [i.title for i in env.lib.items("valence:0.. valence+")] == ["low", "mid", "high"]


def test_beet_ls_range_query_output(env, capsys):
    env.load()
    store_values(env.lib)
    env.run_command("ls", "-f", "$title $valence $arousal", "valence:0.5..")
    assert capsys.readouterr().out.splitlines() == ["high 0.750 0.900", "mid 0.500 0.300"]


def test_null_value_never_crashes_a_range_query(env):
    env.load()
    items = store_values(env.lib)
    items["mid"]["valence"] = None  # what an Item.read() of a file without the tag would store
    items["mid"].store()
    assert titles(env.lib, "valence:0.4..") == ["high"]
    assert titles(env.lib, "valence:..1") == ["high", "low"]


def test_types_survive_a_stale_cache_and_a_reload(env, tmp_path):
    # beets caches Item._types per process; compute it before the plugin exists...
    assert "valence" not in Item._types
    env.load()
    store_values(env.lib)
    # ...the plugin resets the cache, so the query is numeric.
    assert titles(env.lib, "valence:0.5..") == ["high", "mid"]
    # Unload and load again with other field names: the new instance's types win.
    env.unload_plugins()
    env.load(fields={"valence": "mood_valence", "arousal": "mood_arousal", "dominant_source": "mood_dominant_source"})
    assert "valence" not in Item._types and Item._types["mood_valence"] is emotion_float("mood_valence")
    store_values(env.lib, {"x": (0.8, 0.8, "other"), "y": (0.3, 0.3, "bass")}, prefix="mood_")
    assert titles(env.lib, "mood_valence:0.5..") == ["x"]


def test_two_instances_and_two_library_loads(env, tmp_path):
    env.load()
    beets.plugins._instances.append(EmoMucsPlugin())  # a second instance: no type conflict
    assert beets.plugins.types(Item)["valence"] is emotion_float("valence")
    path = tmp_path / "lib.db"
    lib = Library(str(path), str(tmp_path))
    store_values(lib)
    lib._close()
    lib2 = Library(str(path), str(tmp_path))
    assert titles(lib2, "valence:0.5..") == ["high", "mid"]
    assert titles(lib2, "arousal:..0.3") == ["low", "mid"]
    lib2._close()


def test_album_query(env):
    plugin = env.load()
    for album_name, values in (("Happy", [0.8, 0.7]), ("Sad", [0.2, 0.4])):
        items = []
        for n, v in enumerate(values):
            item = Item(title=f"{album_name}{n}", album=album_name, path=f"/x/{album_name}{n}.mp3".encode())
            item["valence"], item["arousal"] = v, 1 - v
            items.append(item)
        if album_name == "Happy":
            items.append(Item(title="Happy-unanalysed", album=album_name, path=b"/x/u.mp3"))
        update_album(plugin, env.lib.add_album(items))
    assert titles(env.lib, "valence:0.5..", album=True) == ["Happy"]
    # A track never analysed does not inherit its album's mean in queries, tags or the mean itself.
    assert titles(env.lib, "valence:0.5..") == ["Happy0", "Happy1"]
    unanalysed = env.lib.items("title:Happy-unanalysed").get()
    assert not any(tag_values(plugin, unanalysed).values()) and plugin.needs_analysis(unanalysed)
    assert env.lib.albums("album:Happy").get()["valence"] == pytest.approx(0.75)
    assert titles(env.lib, "arousal:0.6..", album=True) == ["Sad"]
    # The album's mean is not copied onto its tracks.
    assert sorted(i.get("valence", with_album=False) or 0 for i in env.lib.items("album:Happy")) == [0, 0.7, 0.8]


def test_custom_field_names_leave_valence_alone(env):
    env.load(fields={"valence": "emo_v", "arousal": "emo_a", "dominant_source": "emo_src"})
    item = Item(title="t", path=b"/x/t.mp3", valence="owned by another plugin")
    env.lib.add(item)
    assert "valence" not in Item._types and Item._types["emo_v"] is emotion_float("emo_v")


def test_update_keeps_values_of_files_without_tags(env, capsys):
    env.load()
    path = make_track(env.temp_path / "plain.flac", seed=1)
    item = Item.from_path(str(path))
    item.update({"valence": 0.612, "arousal": 0.345, "dominant_source": "drums", "emomucs_model": "m"})
    env.lib.add(item)
    os.utime(path, (1, 1))  # make beet update look at the file
    env.run_command("update")
    fresh = env.lib.get_item(item.id)
    assert (fresh["valence"], fresh["arousal"], fresh["dominant_source"]) == (0.612, 0.345, "drums")
    assert titles(env.lib, "valence:0.5..") == ["plain"]
    assert read_tags(path) == {}


@pytest.mark.parametrize("ext", ["mp3", "flac", "ogg", "opus", "m4a", "wma"])
def test_beet_write_writes_tags_from_the_database(env, ext):
    env.load()
    path = make_track(env.temp_path / f"w.{ext}", seed=2)
    before = other_tags(path)
    item = Item.from_path(str(path))
    item.update({"valence": 0.61234, "arousal": 0.2, "dominant_source": "bass", "emomucs_model": "m"})
    env.lib.add(item)
    env.run_command("write", "-f")
    assert read_tags(path) == {"VALENCE": "0.612", "AROUSAL": "0.200", "DOMINANT_SOURCE": "bass"}
    assert before.items() <= other_tags(path).items()  # beet write may add its own fields
    mf = MediaFile(str(path))
    assert (mf.valence_tag, mf.dominant_source_tag) == (0.612, "bass")
    # Writing again and updating from the file change nothing in the database.
    env.run_command("write", "-f")
    os.utime(path, (1, 1))
    env.run_command("update")
    fresh = env.lib.get_item(item.id)
    assert (fresh["valence"], fresh["arousal"], fresh["dominant_source"]) == (0.61234, 0.2, "bass")
    assert read_tags(path)["VALENCE"] == "0.612"


def test_modify_writes_tags_and_tags_off_does_not(env):
    env.load()
    path = make_track(env.temp_path / "m.mp3", seed=3)
    item = Item.from_path(str(path))
    item.update({"valence": 0.9, "arousal": 0.1})
    env.lib.add(item)
    env.run_command("modify", "-y", "title=New")
    assert read_tags(path) == {"VALENCE": "0.900", "AROUSAL": "0.100"}
    assert MediaFile(str(path)).title == "New"
    env.unload_plugins()
    path2 = make_track(env.temp_path / "n.mp3", seed=4)
    item2 = Item.from_path(str(path2))
    item2.update({"valence": 0.9, "arousal": 0.1})
    env.lib.add(item2)
    env.load(tags=False)
    env.run_command("modify", "-y", "title=Newer", "path:" + str(path2))
    assert read_tags(path2) == {} and MediaFile(str(path2)).title == "Newer"


def test_items_without_values_keep_foreign_tags_on_write(env):
    """An item never analysed does not delete VALENCE tags another tool wrote."""
    env.load()
    path = make_track(env.temp_path / "f.flac", seed=5)
    mf = MediaFile(str(path))
    mf.valence_tag = 0.111
    mf.save()
    env.lib.add(Item.from_path(str(path)))
    env.run_command("write", "-f")
    assert read_tags(path) == {"VALENCE": "0.111"}


def test_plugin_import_and_beet_help_stay_light(tmp_path):
    (tmp_path / "config.yaml").write_text("plugins: [emomucs]\nlibrary: " + str(tmp_path / "l.db") + "\n")
    code = textwrap.dedent(
        """
        import sys
        import beetsplug.emomucs
        from beets.ui import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        heavy = [m for m in ("torch", "demucs", "librosa", "emomucs_core.predictor") if m in sys.modules]
        print("HEAVY", heavy, file=sys.stderr)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "BEETSDIR": str(tmp_path)})
    assert "emomucs" in out.stdout  # the command is listed
    assert "HEAVY []" in out.stderr, out.stderr


def test_why_the_tags_are_not_beets_media_fields(env):
    """Documents the beets behaviour the design avoids: a field added with add_media_field
    is read from the file by every import and update, and nulled when the file lacks the tag."""
    from beets.plugins import BeetsPlugin
    from mediafile import MediaField, StorageStyle

    class Naive(BeetsPlugin):
        def __init__(self):
            super().__init__("naive")
            self.add_media_field("naive_valence", MediaField(StorageStyle("NAIVE_VALENCE", float_places=3),
                                                             out_type=float))

    try:
        Naive()
        path = make_track(env.temp_path / "n.flac", seed=6)
        item = Item.from_path(str(path))
        item["naive_valence"] = 0.7
        env.lib.add(item)
        os.utime(path, (1, 1))
        env.run_command("update")
        assert env.lib.get_item(item.id).get("naive_valence") is None  # the stored value is gone
    finally:
        delattr(MediaFile, "naive_valence")
        Item._media_fields.discard("naive_valence")
