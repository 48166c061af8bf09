"""`beet emomucs --explain / --map / --playlist` on a real beets library, and a smartplaylist recipe."""

from __future__ import annotations

import os
import subprocess
import sys

import beets.plugins
import pytest
from beets.library import Item
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
    head = out.index(f"Synth Band - {done.title}: valence {item['valence']:.3f}, arousal {item['arousal']:.3f} ({word})")
    body = out[head + 1: head + 12]
    for source in SOURCES:
        for dim in ("valence", "arousal"):
            c = item[source_field(source, dim)]
            assert any(line.split()[0] == source and signed(c) in line and describe(source, dim, c) in line
                       for line in body)
    assert any(line.startswith(f"  dominant source: {item['dominant_source']}") for line in body)
    assert f"Synth Band - {never.title}: not analysed yet (run `beet emomucs` on it)" in out
    assert any(line.startswith("Band - broken: could not be analysed (") for line in out)
    assert own(env.lib.get_item(never.id), "valence") is None  # --explain analyses nothing


def test_explain_never_shows_an_album_mean_as_a_track_value(env, plugin_config, capsys):
    plugin = env.load(**plugin_config)
    items = add_valued(env.lib)
    update_albums(plugin, env.lib, [items[0].album_id])
    env.run_command("emomucs", "--explain", "title:never")
    assert capsys.readouterr().out.splitlines() == ["Band - never: not analysed yet (run `beet emomucs` on it)"]


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
    assert f"{out}: 6 tracks, 1 album means (1 not analysed, left out)" in caplog.text
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
    assert lines[1] == f"#EXTINF:200,Band - {first.title}"
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
