"""What a user sees without analysing: displays, album means, modify, mood and dominance labels.

A real beets library (on disk where beets' commands need it) and beets' own
commands; values are stored directly, since these tests are about the
database side, not the model.
"""

from __future__ import annotations

import pytest
from beets.library import Item
from beets.ui import UserError

from beetsplug.emomucs import labels
from beetsplug.emomucs.albums import update_album
from beetsplug.emomucs.fields import ANALYSED_FIELD
from plugin_fixtures import env, make_track, read_tags  # noqa: F401


def album_of(env, values, name="Mixed Album", files=False):
    """An album whose tracks have (valence, arousal) or None (never analysed); returns (album, items)."""
    items = []
    for n, va in enumerate(values):
        if files:
            item = Item.from_path(str(make_track(env.temp_path / f"{name}{n}.mp3", seed=n)))
        else:
            item = Item(path=f"/nonexistent/{name}{n}.mp3".encode())
        item.update({"title": f"t{n}", "album": name, "artist": "A"})
        if va is not None:
            item["valence"], item["arousal"] = va
        items.append(item)
    album = env.lib.add_album(items)
    update_album(env.emomucs, album)
    return env.lib.get_album(album.id), [env.lib.get_item(i.id) for i in items]


def test_unanalysed_track_displays_empty_never_the_album_mean(env, capsys):
    env.load()
    album, _ = album_of(env, [(0.2, 0.9), (0.6, 0.7), None])
    assert album["valence"] == pytest.approx(0.4) and album[ANALYSED_FIELD] == 2
    env.run_command("ls", "-f", "$title [$valence] [$arousal]")
    assert capsys.readouterr().out.splitlines() == ["t0 [0.200] [0.900]", "t1 [0.600] [0.700]", "t2 [] []"]
    env.run_command("info", "-l", "title:t2")
    info = capsys.readouterr().out
    assert "0.400" not in info and "0.000" not in info
    # The album shows its mean and what it covers.
    env.run_command("ls", "-a", "-f", f"$album $valence ${ANALYSED_FIELD}")
    assert capsys.readouterr().out.strip() == "Mixed Album 0.400 2"
    # A track's value is its own in Python too.
    unanalysed = env.lib.items("title:t2").get()
    assert unanalysed["valence"] is None and unanalysed.get("valence") is None


def test_album_without_values_displays_empty(env, capsys):
    env.load()
    album_of(env, [None, None], name="Plain")
    env.run_command("ls", "-a", "-f", "$album [$valence]")
    assert capsys.readouterr().out.strip() == "Plain []"


def test_sort_by_valence_with_unanalysed_tracks(env, capsys):
    env.load()
    album_of(env, [(0.7, 0.1), None, (0.3, 0.5)])
    env.run_command("ls", "-f", "$title", "valence+")
    out = capsys.readouterr().out.split()
    assert out.index("t2") < out.index("t0") and "t1" in out


def test_modify_updates_the_album_mean_and_the_count(env):
    env.load()
    album, items = album_of(env, [(0.2, 0.9), (0.6, 0.7), None])
    env.run_command("modify", "-y", "-W", "title:t0", "valence=0.8")
    assert env.lib.get_album(album.id)["valence"] == pytest.approx(0.7)
    env.run_command("modify", "-y", "-W", "title:t2", "valence=0.1", "arousal=0.3")
    fresh = env.lib.get_album(album.id)
    assert fresh["valence"] == pytest.approx(0.5) and fresh[ANALYSED_FIELD] == 3
    # The mood follows values changed by hand.
    assert env.lib.items("title:t2").get()["mood"] == "sad"
    env.run_command("modify", "-y", "-W", "title:t2", "valence=0.9")
    assert env.lib.items("title:t2").get()["mood"] == "calm"
    env.run_command("modify", "-y", "-W", "title:t1", "valence!", "arousal!")
    fresh = env.lib.get_album(album.id)
    assert fresh["valence"] == pytest.approx(0.85) and fresh[ANALYSED_FIELD] == 2


@pytest.mark.parametrize("value", ["abc", "", "1.5", "-0.1"])
def test_modify_with_a_bad_value_is_refused(env, value):
    env.load()
    album, (item,) = album_of(env, [(0.2, 0.9)], files=True)
    env.run_command("write", "-f")
    before = read_tags(item.path)
    assert before["VALENCE"] == "0.200"
    with pytest.raises(UserError, match=rf"valence='{value}'"):
        env.run_command("modify", "-y", "-w", f"valence={value}")
    assert env.lib.get_item(item.id)["valence"] == 0.2
    assert read_tags(item.path) == before
    assert env.lib.get_album(album.id)["valence"] == pytest.approx(0.2)


def test_a_bad_stored_string_reads_as_missing(env):
    """What an old beets (or a hand edit) may have stored: reading never fails."""
    env.load()
    item = Item(path=b"/x/y.mp3", title="y")
    env.lib.add(item)
    with env.lib.transaction() as tx:
        tx.mutate("INSERT INTO item_attributes (entity_id, key, value) VALUES (?, 'valence', 'abc')", (item.id,))
    assert env.lib.get_item(item.id)["valence"] is None


def test_mood_is_queryable_and_its_field_name_configurable(env, capsys):
    env.load(fields={"mood": "emotion"})
    for title, (v, a) in {"up": (0.8, 0.9), "down": (0.2, 0.1), "still": (0.7, 0.2)}.items():
        item = Item(path=f"/x/{title}.mp3".encode(), title=title)
        item["valence"], item["arousal"], item["emotion"] = v, a, labels.mood(v, a)
        env.lib.add(item)
    env.run_command("ls", "-f", "$title", "emotion:sad")
    assert capsys.readouterr().out.split() == ["down"]
    assert [i.title for i in env.lib.items("emotion:calm")] == ["still"]


# -- labels (pure functions) --------------------------------------------------


@pytest.mark.parametrize("v, a, mood", [(0.9, 0.9, "happy"), (0.1, 0.9, "tense"), (0.1, 0.1, "sad"),
                                        (0.9, 0.1, "calm"), (0.5, 0.5, "happy")])
def test_mood_of_each_quadrant(v, a, mood):
    assert labels.mood(v, a) == mood


def test_mood_confidence():
    assert labels.mood_confidence(0.5, 0.5) == pytest.approx(0.25)
    assert labels.mood_confidence(1.0, 0.0) == pytest.approx(1.0)
    assert labels.mood_confidence(0.8, 0.3) == pytest.approx(0.8 * 0.7)
    # A quadrant head: the probability of the mood's quadrant.
    assert labels.mood_confidence(0.3, 0.2, [0.1, 0.2, 0.6, 0.1]) == pytest.approx(0.6)


def contributions(**sizes):
    return {s: {"valence": v, "arousal": a} for s, (v, a) in sizes.items()}


def test_dominance_clear_leader_runner_up_and_margin():
    lead = labels.dominance(contributions(vocals=(0.2, -0.1), drums=(0.05, 0.1), bass=(0.0, 0.01), other=(0.0, 0.0)))
    assert (lead.label, lead.leader, lead.runner_up) == ("vocals", "vocals", "drums")
    assert lead.margin == pytest.approx(0.3 - 0.15)


def test_dominance_mixed_when_no_source_leads_clearly():
    # 0.01 apart: below 0.02.
    near = labels.dominance(contributions(vocals=(0.1, 0.0), drums=(0.09, 0.0), bass=(0, 0), other=(0, 0)))
    assert (near.label, near.leader, near.runner_up) == ("mixed", "vocals", "drums")
    # 0.03 apart, but under 10 % of 0.5.
    big = labels.dominance(contributions(vocals=(0.25, 0.25), drums=(0.25, 0.22), bass=(0, 0), other=(0, 0)))
    assert big.label == "mixed" and big.margin == pytest.approx(0.03)
    # An exact tie.
    tie = labels.dominance(contributions(vocals=(0.1, 0.1), drums=(-0.1, 0.1), bass=(0, 0), other=(0, 0)))
    assert tie.label == "mixed" and tie.margin == 0
    assert labels.dominance({}) is None
