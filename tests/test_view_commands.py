"""`beet emomucs --explain / --map / --playlist` on a real beets library, and a smartplaylist recipe."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import beets.plugins
import pytest
from beets.library import Item, Library
from beets.ui import UserError

from beetsplug.emomucs.albums import update_albums
from beetsplug.emomucs.fields import source_field, value_without_album as own
from beetsplug.emomucs.explain import describe, signed
from beetsplug.emomucs.moodmap import SOURCE_COLOURS
from beetsplug.emomucs.playlist import mood_path
from beetsplug.emomucs.labels import mood
from beetsplug.emomucs.points import TrackPoint
from emomucs_core.constants import SOURCES
from plugin_fixtures import env, plugin_bundle, plugin_config  # noqa: F401
from test_moodmap import HEIGHT, WIDTH, colour_near, pixel, read_png

#: (title, valence, arousal, dominant source), spread over the four quadrants.
SPREAD = [("joy", 0.85, 0.80, "vocals"), ("rage", 0.12, 0.90, "drums"), ("grief", 0.20, 0.15, "bass"),
          ("still", 0.70, 0.20, "other"), ("bright calm", 0.65, 0.35, "vocals"), ("dusk", 0.40, 0.45, "bass")]


def add_valued(lib, rows=SPREAD, album: str = "Spread") -> list[Item]:
    """Items (not real files) holding stored values, in one album; plus one never analysed."""
    items = []
    for title, v, a, d in rows:
        item = Item(title=title, artist="Band", album=album, path=f"/music/{title}.flac".encode(), length=200.0)
        item["valence"], item["arousal"], item["dominant_source"] = v, a, d
        items.append(item)
    items.append(Item(title="never", artist="Band", album=album, path=b"/music/never.flac"))
    lib.add_album(items)
    return items


def test_explain_shows_the_stored_contributions_of_a_real_analysis(env, plugin_config, capsys):
    env.load(**plugin_config)
    done, never = env.add_tracks("ex", ["flac", "mp3"])
    broken = env.temp_path / "broken.ogg"
    broken.write_bytes(b"OggS not really" * 20)
    env.lib.add(Item(title="broken", artist="Band", path=str(broken).encode()))
    with pytest.raises(UserError, match="1 track of 2 failed"):
        env.run_command("emomucs", "-W", f"title:{done.title}", ",", "title:broken")
    capsys.readouterr()
    env.run_command("emomucs", "--explain")
    out = capsys.readouterr().out.splitlines()
    item = env.lib.get_item(done.id)
    word = mood(item["valence"], item["arousal"])
    head = out.index(f"Synth Band - Synth Album - {done.title}: valence {item['valence']:.3f}, arousal {item['arousal']:.3f} ({word})")
    body = out[head + 1: head + 12]
    for source in SOURCES:
        for dim in ("valence", "arousal"):
            c = item[source_field(source, dim)]
            assert any(line.split()[0] == source and signed(c) in line and describe(source, dim, c) in line
                       for line in body)
    assert any(line.startswith(f"  dominant source: {item['dominant_source']}") for line in body)
    assert f"Synth Band - Synth Album - {never.title}: not analysed yet (run `beet emomucs` on it)" in out
    assert any(line.startswith("Band -  - broken: could not be analysed (") for line in out)
    assert own(env.lib.get_item(never.id), "valence") is None  # --explain analyses nothing


def test_explain_never_shows_an_album_mean_as_a_track_value(env, plugin_config, capsys):
    plugin = env.load(**plugin_config)
    items = add_valued(env.lib)
    update_albums(plugin, env.lib, [items[0].album_id])
    env.run_command("emomucs", "--explain", "title:never")
    assert capsys.readouterr().out.splitlines() == ["Band - Spread - never: not analysed yet (run `beet emomucs` on it)"]


def test_map_command_draws_the_library(env, plugin_config, tmp_path, caplog):
    plugin = env.load(**plugin_config)
    items = add_valued(env.lib)
    update_albums(plugin, env.lib, [items[0].album_id])
    out = tmp_path / "library.png"
    env.run_command("emomucs", "--map", str(out), "--map-albums")
    image = read_png(out)
    assert image.shape == (HEIGHT, WIDTH, 3)
    for _, v, a, source in SPREAD:
        assert colour_near(image, *pixel(v, a), SOURCE_COLOURS[source])
    album = env.lib.albums().get()
    assert (image[pixel(album["valence"], album["arousal"])] > 240).all()  # hollow album diamond
    assert f"{out}: 6 tracks, 1 album mean (1 not analysed, left out)" in caplog.text
    # A query limits the map.
    env.run_command("emomucs", "--map", str(out), "valence:0.5..")
    image = read_png(out)
    for _, v, a, source in SPREAD:
        assert colour_near(image, *pixel(v, a), SOURCE_COLOURS[source]) == (v >= 0.5)
    with pytest.raises(UserError, match="cannot write the map"):
        env.run_command("emomucs", "--map", str(tmp_path / "missing" / "x.png"))


def test_playlist_command_writes_the_mood_path(env, plugin_config, tmp_path, capsys):
    env.load(**plugin_config)
    grid = [(f"g{i}{j}", (i + 0.5) / 6, (j + 0.5) / 6, "vocals") for i in range(6) for j in range(6)]
    items = add_valued(env.lib, grid)
    out = tmp_path / "lift.m3u"
    env.run_command("emomucs", "--playlist", str(out), "--from", "sad", "--to", "happy", "-n", "8")
    lines = out.read_text().splitlines()
    assert lines[0] == "#EXTM3U" and len(lines) == 1 + 2 * 8
    paths = lines[2::2]
    expected = mood_path([TrackPoint(i.title, path=os.fsdecode(i.path), valence=own(i, "valence"),
                                     arousal=own(i, "arousal")) for i in env.lib.items()], "sad", "happy", 8)
    assert paths == [t.path for t in expected]
    by_path = {os.fsdecode(i.path): i for i in items}
    first, last = by_path[paths[0]], by_path[paths[-1]]
    assert first["valence"] < 0.5 and first["arousal"] < 0.5 and last["valence"] > 0.5 and last["arousal"] > 0.5
    assert "/music/never.flac" not in paths
    assert lines[1] == f"#EXTINF:200,Band - Spread - {first.title}"
    assert capsys.readouterr().out.strip().endswith(f"{out}: 8 tracks from sad to happy")
    with pytest.raises(UserError, match="unknown mood 'angry'"):
        env.run_command("emomucs", "--playlist", str(out), "--from", "angry", "--to", "happy")
    with pytest.raises(UserError, match="needs --from MOOD and --to MOOD"):
        env.run_command("emomucs", "--playlist", str(out), "--to", "happy")
    assert out.read_text().splitlines() == lines  # a failed run leaves the old playlist alone


def test_playlist_from_a_sparse_library_never_steps_back(env, plugin_config, tmp_path, capsys):
    """Issue 28: the second track jumped back from valence 0.41 to 0.03 (it was the one nearest its target)."""
    env.load(**plugin_config)
    rows = [("ahead", 0.41, 0.20, "bass"), ("behind", 0.03, 0.45, "vocals"), ("bright", 0.85, 0.65, "drums"),
            ("joy", 0.80, 0.80, "vocals"), ("tense", 0.15, 0.95, "drums")]
    add_valued(env.lib, rows)
    out = tmp_path / "lift.m3u"
    env.run_command("emomucs", "--playlist", str(out), "--from", "sad", "--to", "happy", "-n", "4")
    by_path = {os.fsdecode(i.path): i for i in env.lib.items()}
    path = [by_path[p] for p in out.read_text().splitlines()[2::2]]
    assert [i.title for i in path] == ["behind", "ahead", "bright", "joy"]
    along = [(i["valence"] - 0.25) + (i["arousal"] - 0.25) for i in path]  # onto the sad->happy direction
    assert along == sorted(along)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in printed[:4]] == [[f"{i['valence']:.3f}", f"{i['arousal']:.3f}"] for i in path]


def test_smartplaylist_recipe_lists_exactly_the_matching_tracks(env, plugin_config, tmp_path):
    """The documented recipe, run by beets' own smartplaylist plugin (`beet splupdate`)."""
    env.config["emomucs"].set(plugin_config)
    env.config["smartplaylist"].set({
        "playlist_dir": str(tmp_path),
        "playlists": [{"name": "bright-calm.m3u", "query": "valence:0.6.. arousal:..0.4"}],
    })
    env.config["plugins"] = ["emomucs", "smartplaylist"]
    beets.plugins.load_plugins()
    items = add_valued(env.lib)
    env.run_command("splupdate")
    listed = (tmp_path / "bright-calm.m3u").read_bytes().splitlines()
    expected = [i.path for i in items if own(i, "valence") is not None and i["valence"] >= 0.6 and i["arousal"] <= 0.4]
    assert sorted(listed) == sorted(expected) == [b"/music/bright calm.flac", b"/music/still.flac"]


def test_view_options_import_nothing_heavy_until_used():
    """`beet` with the plugin loaded does not import matplotlib or pyarrow (nor the engine)."""
    code = ("import sys, beetsplug.emomucs; "
            "print([m for m in ('matplotlib', 'pyarrow', 'torch', 'emomucs_core.predictor') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("options, needs", [(["--from", "sad"], "--playlist"), (["--to", "happy"], "--playlist"),
                                            (["--map-albums"], "--map")])
def test_options_that_need_another_are_refused_before_any_analysis(env, plugin_config, options, needs):
    env.load(**plugin_config)
    items = add_valued(env.lib)
    stored = [(i.id, i.get("valence")) for i in env.lib.items()]
    with pytest.raises(UserError, match=f"give {needs} "):
        env.run_command("emomucs", "-f", *options)
    assert [(i.id, i.get("valence")) for i in env.lib.items()] == stored and items


# -- issue 28: empty queries, counts, one name per track -------------------------------


def test_a_query_matching_nothing_says_so_in_every_mode(env, plugin_config, tmp_path, caplog, capsys):
    """Issue 28.4: one line, the same for the analysis (with or without -f) and the view options; nothing written."""
    env.load(**plugin_config)
    add_valued(env.lib)
    runs = [[], ["-f"], ["--explain"], ["--map", str(tmp_path / "m.png")], ["--map", str(tmp_path / "m.html")],
            ["--playlist", str(tmp_path / "p.m3u"), "--from", "sad", "--to", "happy"]]
    for options in runs:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            env.run_command("emomucs", *options, "title:x")
        said = [m for m in caplog.messages if "match" in m or "analyse" in m]
        assert said == ["no tracks match 'title:x'"], (options, caplog.messages)
        assert capsys.readouterr().out == ""
    assert list(tmp_path.iterdir()) == []  # no empty PNG, page or playlist
    # A query that matches only analysed tracks still says why nothing runs.
    joy = env.lib.items("title:joy").get()
    joy["emomucs_model"] = env.emomucs.model_id
    joy.store()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        env.run_command("emomucs", "title:joy")
    assert "nothing to analyse (use -f to re-analyse)" in caplog.messages
    # A refused option wins over an empty query.
    with pytest.raises(UserError, match=r"m.jpg: --map writes FILE.png \(a picture\) or FILE.html .*, not .jpg"):
        env.run_command("emomucs", "--map", str(tmp_path / "m.jpg"), "title:x")
    with pytest.raises(UserError, match="unknown mood 'angry'"):
        env.run_command("emomucs", "--playlist", str(tmp_path / "p.m3u"), "--from", "angry", "--to", "sad", "title:x")


def test_one_track_is_counted_as_one_track(env, plugin_config, tmp_path, caplog, capsys):
    """Issue 28.5: "1 track", never "1 tracks", in what --map and --playlist print."""
    env.load(**plugin_config)
    update_albums(env.emomucs, env.lib, [add_valued(env.lib)[0].album_id])
    with caplog.at_level(logging.INFO):
        env.run_command("emomucs", "--map", str(tmp_path / "one.png"), "--map-albums", "title:joy")
    assert f"{tmp_path / 'one.png'}: 1 track, 1 album mean" in caplog.messages
    env.run_command("emomucs", "--playlist", str(tmp_path / "one.m3u"), "--from", "sad", "--to", "happy", "-n", "3",
                    "title:joy")
    assert capsys.readouterr().out.splitlines()[-1] == \
        f"{tmp_path / 'one.m3u'}: 1 track from sad to happy (only 1 analysed track matches)"


def test_copies_of_one_song_are_told_apart_on_every_line(env, plugin_config, tmp_path, caplog, capsys):
    """Issue 28.8: the FLAC and MP3 copies of a song get one name each, the same on the result lines, the
    --explain headers, the playlist lines and the M3U, and -m."""
    from plugin_fixtures import make_track

    env.load(**plugin_config)
    (tmp_path / "in").mkdir()
    items = [Item.from_path(str(make_track(tmp_path / "in" / f"twin.{ext}", seed=n, title="Twin")))
             for n, ext in enumerate(("flac", "mp3"), 1)]
    env.lib.add_album(items)
    names = ["Synth Band - Synth Album - Twin (FLAC)", "Synth Band - Synth Album - Twin (MP3)"]
    env.run_command("emomucs", "-m")
    assert capsys.readouterr().out.splitlines() == names
    with caplog.at_level(logging.INFO):
        env.run_command("emomucs")
    assert [m.split(": valence")[0] for m in caplog.messages if m.startswith("[")] == \
        [f"[1/2] {names[0]}", f"[2/2] {names[1]}"]
    env.run_command("emomucs", "--explain")
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": valence")[0] for line in out if ": valence" in line] == names
    m3u = tmp_path / "twins.m3u"
    env.run_command("emomucs", "--playlist", str(m3u), "--from", "sad", "--to", "happy", "-n", "2")
    printed = capsys.readouterr().out.splitlines()
    assert sorted(line.split("  ", 1)[1] for line in printed[:2]) == names
    assert sorted(line.split(",", 1)[1] for line in m3u.read_text().splitlines() if line.startswith("#EXTINF")) == names


def test_track_names_add_the_format_then_the_path():
    from beetsplug.emomucs.output import track_names

    lib = Library(":memory:")
    rows = [("Twin", "MP3", "/a/twin.mp3"), ("Twin", "MP3", "/b/twin.mp3"), ("Twin", "FLAC", "/a/twin.flac"),
            ("Solo", "MP3", "/a/solo.mp3"), ("", "", "/a/untagged\nname.ogg")]
    items = []
    for title, fmt, path in rows:
        item = Item(title=title, artist="Band" if title else "", album="Album" if title else "", format=fmt,
                    path=path.encode())
        lib.add(item)
        items.append(item)
    assert list(track_names(items).values()) == [
        "Band - Album - Twin (/a/twin.mp3)", "Band - Album - Twin (/b/twin.mp3)", "Band - Album - Twin (FLAC)",
        "Band - Album - Solo", "/a/untagged\\nname.ogg"]
