"""No stale or unflagged values in a real library: derived fields follow valence and arousal, failures say so.

Issues 28 (items 1-3, 6, 7) and 29 (items 1, 2, 5): hand edits of derived fields,
removals, runs over missing files, failures remembered, temporary copies left by
a killed write, warnings stored.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

import mutagen
import numpy as np
import pytest
from beets.ui import UserError

from beetsplug.emomucs.fields import value_without_album as own
from beetsplug.emomucs.writing import STALE_SECONDS
from emomucs_core.constants import SOURCES
from emomucs_core.testing import synth_music, write_audio
from plugin_fixtures import env, plugin_bundle, plugin_config, read_tags, without_root_powers  # noqa: F401
from test_plugin_runs import BEET, beet_env, disk_library  # noqa: F401  (fixture)

#: Everything that follows from valence and arousal.
DERIVED = ("mood", "dominant_source", "emomucs_model", "emomucs_mood_confidence", "emomucs_dominant_margin",
           *(f"emomucs_{s}_{d}" for s in SOURCES for d in ("valence", "arousal")))


def _model_tag(path) -> bool:
    tags = mutagen.File(os.fsdecode(path)).tags
    return any("EMOMUCS_MODEL" in str(key).upper() for key in tags.keys())


@pytest.fixture
def analysed(env, plugin_config):  # noqa: F811  (fixture)
    """Two tracks analysed with their tags written (flac, mp3)."""
    env.load(**plugin_config)
    items = env.add_tracks("st", ["flac", "mp3"])
    env.run_command("emomucs", "-w")
    return [env.lib.get_item(i.id) for i in items]


def test_derived_fields_cannot_be_set_by_hand(env, analysed):  # noqa: F811
    item = analysed[0]
    path = f"path:{os.fsdecode(item.path)}"
    with pytest.raises(UserError, match=r"mood follows valence and arousal and cannot be set by hand"):
        env.run_command("modify", "-y", path, "mood=happy" if item["mood"] != "happy" else "mood=sad")
    with pytest.raises(UserError, match=r"dominant_source='banjo' is not one of vocals, drums, bass, other, mixed"):
        env.run_command("modify", "-y", path, "dominant_source=banjo")
    fresh = env.lib.get_item(item.id)
    assert (fresh["mood"], fresh["dominant_source"]) == (item["mood"], item["dominant_source"])
    assert read_tags(item.path)["DOMINANT_SOURCE"] == item["dominant_source"]
    env.run_command("modify", "-y", path, "dominant_source=bass")  # a known source is accepted
    assert env.lib.get_item(item.id)["dominant_source"] == "bass"


@pytest.mark.parametrize("removed", ["valence", "arousal"])
def test_removing_a_value_removes_what_follows_it_in_the_database_and_the_file(env, analysed, removed):  # noqa: F811
    kept = "arousal" if removed == "valence" else "valence"
    for item in analysed:
        old_mood = item["mood"]
        env.run_command("modify", "-y", "-w", f"path:{os.fsdecode(item.path)}", f"{removed}!")
        fresh = env.lib.get_item(item.id)
        assert own(fresh, removed) is None and own(fresh, kept) == pytest.approx(item[kept])
        assert all(own(fresh, field) is None for field in DERIVED), [f for f in DERIVED if own(fresh, f) is not None]
        assert item.id not in {i.id for i in env.lib.items(f"mood:{old_mood}")}
        assert set(read_tags(item.path)) == {kept.upper()} and not _model_tag(item.path)
        assert env.emomucs.needs_analysis(fresh)  # the next run fills it in again


def test_warnings_are_shown_on_the_result_line_stored_and_cleared(env, plugin_config, caplog):  # noqa: F811
    env.load(**plugin_config)
    (item,) = env.add_tracks("warn", ["flac"])
    path = Path(os.fsdecode(item.path))
    quiet = synth_music(4, 44100, seed=3)  # shorter than the test model's 5-s window: looped
    quiet *= 10 ** (-42 / 20) / np.sqrt(np.mean(quiet.mean(axis=1) ** 2))  # -42 dBFS: very quiet
    write_audio(path, quiet, 44100)
    with caplog.at_level(logging.INFO):
        env.run_command("emomucs")
    fresh = env.lib.get_item(item.id)
    stored = own(fresh, "emomucs_warnings")
    assert "short track" in stored and "very quiet" in stored
    line = next(m for m in caplog.messages if m.startswith("[1/1]"))
    assert "warning: short track" in line and "warning: very quiet" in line
    assert [i.id for i in env.lib.items("emomucs_warnings::.")] == [item.id]
    write_audio(path, synth_music(12, 44100, seed=3), 44100)
    env.run_command("emomucs", "-f")
    assert own(env.lib.get_item(item.id), "emomucs_warnings") is None  # a later analysis without warnings clears it
    assert not list(env.lib.items("emomucs_warnings::."))


def test_a_run_over_missing_files_says_so_before_loading_the_model(env, plugin_config, caplog):  # noqa: F811
    plugin = env.load(**plugin_config)
    items = env.add_tracks("gone", ["flac", "mp3"])
    for item in items:
        Path(os.fsdecode(item.path)).unlink()
    odd = items[1]
    odd.path = os.fsencode(os.fsdecode(odd.path).replace("gone.mp3", "gone\nsecond line.mp3"))
    odd.store()
    with caplog.at_level(logging.INFO), pytest.raises(UserError, match="2 tracks of 2 failed"):
        env.run_command("emomucs")
    assert plugin._bundle is None and not any("loading" in m for m in caplog.messages)  # no model loaded
    assert "2 of 2 files do not exist" in caplog.messages
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"{os.fsdecode(items[0].path)}: file not found",
                      f"{os.fsdecode(odd.path).replace(chr(10), chr(92) + 'n')}: file not found"]  # one line each
    assert all(own(env.lib.get_item(i.id), "emomucs_error") == "file not found" for i in items)
    # Remembered and said: not retried without -f.
    caplog.clear()
    env.run_command("emomucs")
    assert "2 tracks failed earlier (see `beet ls emomucs_error::.`, `-f` retries)" in caplog.messages


def test_explain_shows_the_error_of_a_failed_re_analysis(env, analysed, capsys):  # noqa: F811
    item = analysed[0]
    Path(os.fsdecode(item.path)).write_bytes(b"")
    with pytest.raises(UserError):
        env.run_command("emomucs", "-f", f"path:{os.fsdecode(item.path)}")
    capsys.readouterr()
    env.run_command("emomucs", "--explain", f"path:{os.fsdecode(item.path)}")
    out = capsys.readouterr().out
    assert "could not be analysed (empty file (0 bytes))" in out and "valence" not in out


def test_a_write_removes_temporary_copies_a_killed_write_left(env, plugin_config):  # noqa: F811
    env.load(**plugin_config)
    (item, other) = env.add_tracks("tmp", ["flac", "mp3"])
    folder = Path(os.fsdecode(item.path)).parent
    mine = folder / f".{Path(os.fsdecode(item.path)).stem}.k1ll3dXX.emomucs-tmp.flac"
    old = folder / ".elsewhere.abcdefgh.emomucs-tmp.mp3"
    fresh = folder / ".elsewhere.ijklmnop.emomucs-tmp.mp3"  # a write of another file going on now
    unrelated = folder / ".hidden.emomucs-notes.txt"
    for path in (mine, old, fresh, unrelated):
        path.write_bytes(b"x" * 1000)
    past = time.time() - STALE_SECONDS - 60
    os.utime(old, (past, past))
    env.run_command("emomucs", "-w", f"path:{os.fsdecode(item.path)}")
    assert not mine.exists() and not old.exists() and fresh.exists() and unrelated.exists()


def test_windows_below_one_are_refused(env, plugin_config):  # noqa: F811
    env.load(**{**plugin_config, "windows": 0})
    env.add_tracks("w0", ["flac"])
    with pytest.raises(UserError, match="windows must be at least 1"):
        env.run_command("emomucs")


def test_an_unreadable_file_fails_alone_and_loses_its_old_values(disk_library):  # noqa: F811
    """Through `beet` on a library on disk, with root's permission override dropped: one line, exit 1, the rest analysed."""
    from beets.library import Library

    config, db = disk_library
    run = subprocess.run([BEET, "-c", str(config), "emomucs"], capture_output=True, text=True, timeout=600,
                         env=beet_env())
    assert run.returncode == 0, run.stderr
    lib = Library(str(db))
    locked = next(iter(lib.items("title:'Song 1'")))
    path = os.fsdecode(locked.path)
    lib._close()
    os.chmod(path, 0o000)
    try:
        run = subprocess.run([*without_root_powers(), BEET, "-c", str(config), "emomucs", "-f", "-w"],
                             capture_output=True, text=True, timeout=600, env=beet_env())
    finally:
        os.chmod(path, 0o644)
    assert run.returncode == 1 and "error: 1 track of 4 failed" in run.stderr, run.stderr
    assert f"emomucs: {path}: permission denied" in run.stderr.splitlines()
    assert "3 analysed, 1 failed" in run.stderr
    lib = Library(str(db))
    items = {i.title: i for i in lib.items()}
    assert own(items["Song 1"], "emomucs_error") == "permission denied"
    assert all(own(items["Song 1"], f) is None for f in ("valence", "arousal", *DERIVED))
    assert all(own(i, "valence") is not None for t, i in items.items() if t != "Song 1")
    assert not list(lib.items("mood::.+ title:'Song 1'"))
    lib._close()
