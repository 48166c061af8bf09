"""Analysis runs as a user sees them: result lines, -p -f, Ctrl-C on -f, progress, concurrent runs.

The small test model through the real Predictor; ``beet`` as separate
processes (on a pseudo-terminal for the progress bar) where the behaviour
depends on the process: terminals, signals, two runs on one library.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from beets.library import Item, Library

from beetsplug.emomucs.fields import PENDING_FIELD, value_without_album
from plugin_fixtures import env, make_track, plugin_bundle, plugin_config, read_tags  # noqa: F401

BEET = str(Path(sys.executable).with_name("beet"))


def pretend_analysed(plugin, item: Item, valence: float = 0.111) -> None:
    """Store values as if the current model had produced them (to test what a forced run shows)."""
    item.update({"valence": valence, "arousal": 0.222, "mood": "sad", "dominant_source": "vocals",
                 "emomucs_model": plugin.model_id})
    item.store()


def test_result_lines_use_the_item_format_and_pretend_force_shows_old_and_new(env, plugin_config, capsys):
    plugin = env.load(**plugin_config)
    (item,) = env.add_tracks("fmt", ["flac"])
    pretend_analysed(plugin, item)
    env.run_command("emomucs", "-p", "-f")
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("Synth Band - Synth Album - ")]
    assert os.fsdecode(item.path) not in line
    assert re.search(r"valence 0\.111 -> 0\.\d{3}, arousal 0\.222 -> 0\.\d{3}, mood sad -> \w+ \(0\.\d\d\)|"
                     r"valence 0\.111 -> 0\.\d{3}, arousal 0\.222 -> 0\.\d{3}, mood sad \(0\.\d\d\)", line), line
    assert re.search(r"dominant_source (vocals -> )?\w+ \(\w+ \d\.\d{3} ahead of \w+\)", line), line
    assert env.lib.get_item(item.id)["valence"] == 0.111  # pretend: nothing stored


def test_ctrl_c_on_a_forced_run_says_how_to_finish(env, plugin_config, caplog, capsys):
    plugin = env.load(**plugin_config)
    items = env.add_tracks("int", ["mp3", "flac", "ogg", "m4a"])
    for item in items:
        pretend_analysed(plugin, item)
    real = plugin.predictions
    seen: list[list[str]] = []

    def interrupted(paths, **options):
        seen.append([os.path.basename(p) for p in paths])
        for n, prediction in enumerate(real(paths, **options)):
            if n == 2:
                raise KeyboardInterrupt
            yield prediction

    plugin.predictions = interrupted
    with caplog.at_level(logging.INFO), pytest.raises(KeyboardInterrupt):
        env.run_command("emomucs", "-f", "-w", "album:Synth Album")
    (hint,) = [r.getMessage() for r in caplog.records if "interrupted" in r.getMessage()]
    assert "run `beet emomucs -w 'album:Synth Album'` to analyse the 2 left" in hint
    done, left = [env.lib.get_item(i.id) for i in items[:2]], [env.lib.get_item(i.id) for i in items[2:]]
    assert all(i["valence"] != 0.111 and not value_without_album(i, PENDING_FIELD) for i in done)
    assert all(i["valence"] == 0.111 and value_without_album(i, PENDING_FIELD) == 1 for i in left)
    # Exactly the hinted command (no -f) finishes the job, and only the two left are analysed.
    env.run_command("emomucs", "-c", "album:Synth Album")
    assert capsys.readouterr().out.strip().endswith("2 items to analyse")
    env.run_command("emomucs", "-w", "album:Synth Album")
    assert seen[-1] == [os.path.basename(os.fsdecode(i.path)) for i in items[2:]]
    for item in items:
        fresh = env.lib.get_item(item.id)
        assert fresh["valence"] != 0.111 and not value_without_album(fresh, PENDING_FIELD)
        assert float(read_tags(item.path)["VALENCE"]) == pytest.approx(fresh["valence"], abs=5e-4)
    env.run_command("emomucs", "-c")
    assert capsys.readouterr().out.strip().endswith("0 items to analyse")


def test_an_interrupted_tag_write_stores_nothing(env, plugin_config, monkeypatch):
    """The database records a result only once the file is whole."""
    import mutagen.id3._file as id3_file

    from emomucs_core.testing import synth_music, write_audio

    plugin = env.load(**plugin_config)
    (env.temp_path / "w").mkdir()
    path = write_audio(env.temp_path / "w" / "untagged.mp3", synth_music(6, 44100, seed=3), 44100)
    item = Item.from_path(str(path))  # no ID3 tag at all: writing one moves every byte
    env.lib.add(item)
    before = path.read_bytes()

    def interrupted_insert(fobj, size, offset):
        raise KeyboardInterrupt

    monkeypatch.setattr(id3_file, "insert_bytes", interrupted_insert)
    with pytest.raises(KeyboardInterrupt):
        env.run_command("emomucs", "-w")
    fresh = env.lib.get_item(item.id)
    assert value_without_album(fresh, "valence") is None and value_without_album(fresh, PENDING_FIELD) == 1
    assert path.read_bytes() == before and sorted(os.listdir(path.parent)) == ["untagged.mp3"]
    assert plugin.needs_analysis(fresh)


# -- separate processes ------------------------------------------------------------


@pytest.fixture
def disk_library(tmp_path, plugin_config):
    """A library on disk with four tracks and a config for ``beet -c``; returns (config path, db path)."""
    db = tmp_path / "library.db"
    (tmp_path / "in").mkdir()
    lib = Library(str(db), str(tmp_path / "music"))
    items = []
    for n in range(4):
        path = make_track(tmp_path / "in" / f"{n:02d} song.flac", seed=n + 1, title=f"Song {n}", track=n + 1)
        items.append(Item.from_path(str(path)))
    lib.add_album(items)
    lib._close()
    options = "".join(f"  {k}: {v}\n" for k, v in {**plugin_config, "threads": 1}.items())
    config = tmp_path / "config.yaml"
    config.write_text(f"library: {db}\ndirectory: {tmp_path / 'music'}\nplugins: emomucs\n"
                      f"import:\n  write: no\nemomucs:\n{options}")
    return config, db


def beet_env() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "120"}


def test_progress_bar_on_a_terminal(disk_library):
    config, _ = disk_library
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 160, 0, 0))  # a 160-column terminal
    proc = subprocess.Popen([BEET, "-c", str(config), "emomucs"], stdout=subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL, env=beet_env())
    os.close(slave)
    screen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            if not chunk and proc.poll() is not None:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode()
    proc.wait(timeout=60)
    os.close(master)
    text = screen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "loading model" in text and "0/4" in text, text
    assert text.index("loading model") < text.index("0/4")  # said before the model loads
    # Count, percentage, rate and ETA; the ETA is "?" until a track beyond the first has finished.
    assert re.search(r" 0%\|.*\| 0/4 \[[\d:]+<\?", text)
    assert re.search(r"50%\|.*\| 2/4 \[[\d:]+<[\d:]+, +[\d.]+(s/track|track/s)", text), text
    assert "100%" in text and "4/4" in text
    assert "Synth Band - Synth Album - Song 1" in text  # the track in progress beside the bar
    assert len([x for x in out.splitlines() if x.startswith("Synth Band - Synth Album - Song")]) == 4


def test_plain_log_lines_off_a_terminal(disk_library):
    config, _ = disk_library
    run = subprocess.run([BEET, "-c", str(config), "emomucs"], capture_output=True, text=True, timeout=600,
                         env=beet_env())
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0].startswith("emomucs: loading model")
    assert [x.split(":")[1].strip() for x in lines if x.startswith("emomucs: [")] == \
        [f"[{n}/4] Synth Band - Synth Album - Song {n - 1}" for n in range(1, 5)]
    assert "%|" not in run.stderr and run.stdout == ""


def _claimed_and_unlocked(claims: Path) -> bool:
    """A run has written its claim and left the claims folder's lock (so freezing it now blocks no one)."""
    if not list(claims.glob("run-*.json")):
        return False
    with open(claims / ".lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(lock, fcntl.LOCK_UN)
    return True


def test_a_run_suspended_inside_the_claims_lock_stops_others_with_one_line(tmp_path):
    """Ctrl-Z on a run while it holds the claims folder's lock: another run gives up after the wait, saying why."""
    from beetsplug.emomucs.claims import Claim
    from beetsplug.emomucs.errors import SetupError

    db = tmp_path / "library.db"
    db.write_bytes(b"")
    held = Claim(str(db))
    os.makedirs(held.folder)
    with held._folder_lock():  # as a suspended run would hold it
        started = time.monotonic()
        with pytest.raises(SetupError, match=r"held .*\.lock for 0.3 s \(is one suspended with Ctrl-Z\?\)"):
            Claim(str(db), lock_wait=0.3).take([1, 2])
        assert time.monotonic() - started < 5
    assert Claim(str(db), lock_wait=0.3).take([1, 2]) == set()  # free again: claimed at once


def test_two_concurrent_runs_never_analyse_one_item_twice(disk_library):
    """The first run is frozen (SIGSTOP) while it holds its claim: the second skips its items."""
    config, db = disk_library
    claims = Path(f"{db}.emomucs-claims")
    first = subprocess.Popen([BEET, "-c", str(config), "emomucs"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=beet_env())
    try:
        deadline = time.monotonic() + 300
        while not _claimed_and_unlocked(claims) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGSTOP)
        assert first.poll() is None, "the first run ended before it could be frozen"
        second = subprocess.run([BEET, "-c", str(config), "emomucs"], capture_output=True, text=True,
                                timeout=600, env=beet_env())
    finally:
        first.send_signal(signal.SIGCONT)
    out1, err1 = first.communicate(timeout=600)
    assert first.returncode == 0 and second.returncode == 0, err1 + second.stderr
    assert "4 of 4 tracks are being analysed by another run: skipped" in second.stderr
    assert "loading" not in second.stderr  # nothing left to analyse: no model to load
    analysed = [x for x in (err1 + second.stderr).splitlines() if re.match(r"emomucs: \[\d/\d\]", x)]
    assert len(analysed) == 4
    assert not list(claims.glob("run-*.json"))  # claims are released
    lib = Library(str(db))
    assert all(i.get("valence") is not None for i in lib.items())
    lib._close()


def screen_lines(output: bytes, width: int) -> list[str]:
    """What a terminal ``width`` columns wide shows after ``output``: enough of a VT100 for tqdm and ``^C``.

    Printable characters wrap at the right margin as xterm does (the wrap waits for the next
    character; a carriage return cancels it); ``ESC [ K`` erases to the end of the line,
    ``ESC [ n A`` moves up; other escape sequences are ignored.
    """
    lines: list[list[str]] = [[]]
    row = col = 0
    pending = False
    text = output.decode(errors="replace")
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b" and text[i + 1:i + 2] == "[":
            j = i + 2
            while j < len(text) and not text[j].isalpha():
                j += 1
            arg, op = text[i + 2:j], text[j:j + 1]
            if op == "K":
                del lines[row][col:]
            elif op == "A":
                row = max(0, row - int(arg or 1))
            pending = False
            i = j + 1
            continue
        if ch == "\r":
            col, pending = 0, False
        elif ch == "\n":
            row, pending = row + 1, False
        elif ch >= " ":
            if pending:
                row, col, pending = row + 1, 0, False
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * (col + 1 - len(line)))
            line[col] = ch
            col += 1
            if col == width:
                col, pending = width - 1, True
        while len(lines) <= row:
            lines.append([])
        i += 1
    return ["".join(line).rstrip() for line in lines]


def test_ctrl_c_on_a_terminal_leaves_one_progress_line(disk_library):
    """Issue 28.11: the bar filled the terminal's width, so the ``^C`` echoed after it wrapped, and the
    bar drawn again on the new line left the old one standing above it. The ``^C`` comes from the
    terminal itself (the pseudo-terminal is the run's controlling terminal)."""
    config, _ = disk_library
    width = 100
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, width, 0, 0))

    def controlling_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        # Ctrl-C live as on a user's terminal, even when the tests run with SIGINT ignored (a background
        # job, as `nohup make test &`): an ignored SIGINT is inherited, and Python then leaves it ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([BEET, "-c", str(config), "emomucs"], stdin=slave, stdout=slave, stderr=slave,
                            env=beet_env(), preexec_fn=controlling_terminal)
    os.close(slave)
    output, sent = b"", False
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            output += chunk
            # the bar names the track in progress once it is set up (a ^C while tqdm is still drawing its
            # first frame, inside the bar's constructor, leaves no bar to clear); the first track pays for
            # warm-up: seconds to spare
            if not sent and b"?track/s, " in output:
                os.write(master, b"\x03")
                sent = True
        elif proc.poll() is not None:
            break
    proc.wait(timeout=60)
    os.close(master)
    assert sent and b"^C" in output, output
    lines = screen_lines(output, width)
    bars = [line for line in lines if "/4 [" in line]
    assert len(bars) == 1, "\n".join(lines)
    after = lines[lines.index(bars[0]) + 1]
    assert after.startswith("emomucs: interrupted: finished tracks are stored"), "\n".join(lines)
    assert not any("^C" in line or line.endswith("^") for line in lines), "\n".join(lines)
