"""Per-stage timing (emomucs_core.profiling): off by default, own times of nested stages, the predictor's stages,
and benchmarks/bench_gpu.py on a machine without CUDA (small HTDemucs; checks what it prints, not how fast)."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest

from emomucs_core import profiling
from emomucs_core.checkpoint import load_bundle
from emomucs_core.descriptors import TONAL_GROUPS
from emomucs_core.predictor import Predictor

ROOT = Path(__file__).resolve().parents[1]


def test_stages_record_nothing_unless_collecting():
    assert profiling.stage("decode") is profiling.stage("head")  # one shared no-op
    with profiling.stage("decode"):
        pass
    with profiling.collect() as profile:
        pass
    assert profile.wall == {}


def test_nested_stages_record_their_own_time_in_every_thread(monkeypatch):
    clock = iter(range(100))  # each reading of the clock is one second after the last
    monkeypatch.setattr(profiling.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(profiling.time, "thread_time", lambda: 0.0)
    with profiling.collect() as profile:
        with profiling.stage("outer"):  # reads 0 and 5
            with profiling.stage("inner"):  # reads 1 and 2
                pass
            with profiling.stage("inner"):  # reads 3 and 4
                pass
    assert profile.wall == {"outer": 3, "inner": 2} and profile.calls == {"outer": 1, "inner": 2}
    monkeypatch.undo()

    def work():
        with profiling.stage("decode"):
            pass

    with profiling.collect() as profile:
        workers = [threading.Thread(target=work) for _ in range(3)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert profile.calls == {"decode": 3}


def _has_tonal(bundle) -> bool:
    """Whether the bundle's descriptors include tonal (harmony) groups, which have a stage of their own."""
    return any(g in TONAL_GROUPS for g in bundle.config.descriptor_groups)


def test_the_predictor_reports_its_stages_and_the_same_values(music_files):
    predictor = Predictor(device="cpu")
    files = [music_files["wav"], music_files["mp3"]]
    plain = [r.to_dict() for r in predictor.predict(files)]
    with profiling.collect() as profile:
        profiled = [r.to_dict() for r in predictor.predict(files)]
    for a, b in zip(plain, profiled):
        a.pop("elapsed"), b.pop("elapsed")
        assert a == b
    harmony = ["descriptors: harmony"] if _has_tonal(predictor.bundle) else []  # the built-in model's groups
    assert list(profile.calls) == ["decode", "input checks", "stem features", "descriptors: timbre, rhythm",
                                   *harmony, "head", "attribution"]
    assert profile.calls["decode"] == 2 and all(v >= 0 for v in profile.cpu.values())
    table = profile.table(tracks=2)
    assert table.splitlines()[0].startswith("| stage | wall ms per track") and "| all stages |" in table


def _bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "benchmarks" / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_gpu_runs_its_cpu_part_without_cuda(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the GPU part would run")
    figures = _bench_gpu().main(["--size", "small", "--tracks", "2", "--minutes", "0.4", "--windows", "1",
                                 "--cpu-tracks", "1", "--cpu-batch", "1"])
    out = capsys.readouterr().out
    assert "device: no CUDA device" in out
    assert "CPU: the same work on 1 of the tracks (reduced from 2" in out
    assert "tracks/s" in out and "s per 0.4-minute track (20 s of it separated)" in out
    assert set(figures) == {"cpu"} and figures["cpu"]["tracks"] == 1 and figures["cpu"]["seconds"] > 0
    rows = ["| decode |", "| separation |", "| stem features |", "| attribution |"]
    if _has_tonal(load_bundle(None)):
        rows.append("| descriptors: harmony |")
    for row in rows:
        assert row in out
