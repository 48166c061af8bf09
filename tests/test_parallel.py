"""Worker processes: same results as in-process, in order; crashes and Ctrl-C handled.

Everything is real: spawned worker processes, each loading a saved bundle
(a random-weight mix-only C2D, or the built-in model with the offline
separator where a file must take long enough to be killed mid-way), real
audio files, and real signals (SIGKILL to a worker, SIGINT to the CLI).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emomucs_core.checkpoint import BundleError
from emomucs_core.parallel import _Pool, predict_files, threads_per_worker
from emomucs_core.testing import synth_music, write_audio

from conftest import make_bundle


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[Path]:
    """Six generated 30-s songs (FLAC, 44.1 kHz stereo)."""
    folder = tmp_path_factory.mktemp("songs")
    return [write_audio(folder / f"song{i}.flac", synth_music(30, 44100, seed=10 + i), 44100) for i in range(6)]


@pytest.fixture(scope="module")
def mix_bundle(tmp_path_factory) -> Path:
    """A saved mix-only C2D bundle (random weights): cheap per file, no separator."""
    return make_bundle(sources=("mix",)).save(tmp_path_factory.mktemp("mix") / "mix.safetensors")


def test_threads_per_worker_share_the_cores():
    assert threads_per_worker(1, cores=8) == 8
    assert threads_per_worker(3, cores=8) == 2
    assert threads_per_worker(4, cores=2) == 1


def test_workers_give_the_in_process_values_in_input_order(songs, mix_bundle, music_files, tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio")
    files = [songs[0], bad, music_files["flac"], songs[1], music_files["mp3"]]
    kwargs = dict(bundle=mix_bundle, device="auto", windows=2)
    alone = list(predict_files(files, jobs=1, **kwargs))
    pooled = list(predict_files(files, jobs=2, **kwargs))
    assert [r.path for r in pooled] == files
    assert [r.ok for r in pooled] == [True, False, True, True, True]
    assert pooled[1].error == alone[1].error and pooled[1].error.startswith("not an audio file")
    for mine, theirs in zip(pooled, alone):
        if mine.ok:
            assert mine.model_id == theirs.model_id
            assert mine.valence == pytest.approx(theirs.valence, abs=1e-5)
            assert mine.arousal == pytest.approx(theirs.arousal, abs=1e-5)
            assert [w["start"] for w in mine.windows] == [w["start"] for w in theirs.windows]
    assert not multiprocessing.active_children(), "workers outlived the run"


def test_a_worker_that_cannot_load_the_model_raises_its_error(songs, tmp_path):
    with pytest.raises(BundleError, match="not found"):
        next(predict_files(songs[:2], jobs=2, bundle=tmp_path / "missing.safetensors"))
    assert not multiprocessing.active_children()


def test_a_killed_worker_becomes_an_error_for_its_file_and_the_rest_finish(songs):
    # The victim is a worker frozen while it holds a file it has not answered (nothing waiting on its
    # pipe once frozen): files take a fraction of a second, so a worker picked at random may be idle.
    files = songs + songs
    pool = _Pool(2, {"device": "cpu"}, None, time.perf_counter())
    results = pool.run(files)
    got = [next(results)]
    victim = None
    while victim is None:
        for worker in pool.workers:
            if worker.task is None:
                continue
            os.kill(worker.process.pid, signal.SIGSTOP)
            if not worker.conn.poll(0.2):  # frozen before it could answer: it will die holding the file
                victim = worker
                break
            os.kill(worker.process.pid, signal.SIGCONT)
        else:
            got.append(next(results))
    os.kill(victim.process.pid, signal.SIGKILL)
    got += list(results)
    assert [r.path for r in got] == files
    failed = [r for r in got if not r.ok]
    assert len(failed) == 1
    assert failed[0].error == "worker process was killed by SIGKILL (out of memory?)"
    assert failed[0].model_id == got[0].model_id
    assert all(0 <= r.valence <= 1 for r in got if r.ok)
    assert not multiprocessing.active_children()


def _group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) in process group ``pgid`` (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _start_cli(files: list[Path]) -> subprocess.Popen:
    """``emomucs predict --jobs 2`` on the built-in model, in a process group of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "emomucs_core.cli", "predict", *map(str, files), "--jobs", "2", "--json",
         "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=default_sigint,
    )


def default_sigint() -> None:
    """In the child: Ctrl-C's default action, even when this test runs with SIGINT ignored (a background job)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_until_gone(pgid: int, seconds: float) -> list[int]:
    """Poll until process group ``pgid`` is empty or ``seconds`` pass; the members left."""
    deadline = time.monotonic() + seconds
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _group_members(pgid)


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


@needs_proc
def test_workers_exit_when_the_parent_is_killed_hard(songs):
    cli = _start_cli(songs)
    try:
        assert "loading model in 2 worker processes" in cli.stderr.readline()
        deadline = time.monotonic() + 60
        while len(_group_members(cli.pid)) < 3 and time.monotonic() < deadline:  # parent + 2 workers
            time.sleep(0.2)
        os.kill(cli.pid, signal.SIGKILL)  # no chance to stop its workers itself
        cli.wait(timeout=10)
        assert _wait_until_gone(cli.pid, 15) == [], "workers outlived their parent"
    finally:
        if _group_members(cli.pid):
            os.killpg(cli.pid, signal.SIGKILL)


@needs_proc
def test_ctrl_c_stops_every_worker_promptly_and_keeps_finished_results(songs):
    files = songs * 4  # 24 files: far from done when interrupted, even at 0.15 s a file
    cli = _start_cli(files)
    try:
        first = cli.stdout.readline()
        assert first.startswith('{"path": '), cli.stderr.read()
        workers = [pid for pid in _group_members(cli.pid) if pid != cli.pid]
        assert len(workers) >= 2  # two workers (and multiprocessing's resource tracker)
        os.killpg(cli.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
        sent = time.monotonic()
        rest, err = cli.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
    assert took < 10, f"took {took:.1f} s to stop"
    assert cli.returncode != 0 and "Aborted!" in err
    assert len(rest.splitlines()) < len(files) - 1
    assert _wait_until_gone(cli.pid, 10) == [], "orphan processes left behind"


@pytest.mark.parametrize("jobs", [1, 2])
def test_on_ready_says_once_that_the_model_is_loaded_before_the_first_result(songs, mix_bundle, jobs):
    events: list = []
    for result in predict_files(songs[:3], jobs=jobs, bundle=mix_bundle, windows=1,
                                on_ready=lambda *args: events.append(args)):
        events.append(result)
    ready, *results = events
    model_id, workers, seconds = ready
    assert len(results) == 3 and all(r.ok and r.model_id == model_id for r in results)
    assert 1 <= workers <= jobs and seconds > 0  # a fast first result does not wait for slower workers
