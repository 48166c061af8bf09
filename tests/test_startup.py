"""Start-up: a torch-free parent, no librosa/numba/scipy in a worker, and the "model loaded" line.

Real processes throughout: the CLI runs in a subprocess with two spawned
workers and the built-in model (``offline:v7``), and reports, from inside the
parent, which modules it had loaded when it exited.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emomucs_core.prediction import Prediction
from emomucs_core.testing import synth_music, write_audio

#: Libraries the parent of the workers has no use for (the workers need some of them).
HEAVY = {"torch", "numpy", "librosa", "numba", "llvmlite", "scipy", "sklearn", "soxr", "av", "soundfile"}
#: Libraries a worker with the built-in model must not load: librosa's filters pull in numba; scipy.signal ~1 s.
NOT_IN_WORKERS = {"librosa", "numba", "llvmlite", "scipy", "sklearn"}

_REPORT_MODULES = "import atexit, sys\natexit.register(lambda: print('MODULES', *sorted(sys.modules), file=sys.stderr))\n"


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[Path]:
    """Two generated 21-s songs (FLAC and MP3) and a file that is not audio."""
    folder = tmp_path_factory.mktemp("songs")
    bad = folder / "notes.mp3"
    bad.write_text("not audio")
    return [write_audio(folder / "a.flac", synth_music(21, 44100, seed=20), 44100),
            write_audio(folder / "b.mp3", synth_music(21, 44100, seed=21), 44100), bad]


def _top_level(line: str) -> set[str]:
    return {name.split(".")[0] for name in line.split()[1:]}


def test_the_parent_of_workers_loads_no_torch_and_says_when_the_model_is_loaded(songs):
    code = _REPORT_MODULES + "from emomucs_core.cli import main\nmain(sys.argv[1:])\n"
    out = subprocess.run([sys.executable, "-c", code, "predict", "--json", "--jobs", "2", "--windows", "1",
                          *map(str, songs)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    lines = out.stdout.splitlines()  # stdout and stderr in the order written (click flushes every line)
    assert out.returncode == 0, out.stdout
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert [r["path"] for r in records] == [str(p) for p in songs]
    assert [r["error"] is None for r in records] == [True, True, False]
    assert records[0]["contributions"] and len(records[0]["quadrant_probabilities"]) == 4
    loaded = [i for i, line in enumerate(lines) if re.fullmatch(r"emomucs: model \S+ loaded( by 2 workers)? \(\d+\.\d s\)",
                                                                line)]
    assert len(loaded) == 1 and records[0]["model_id"] in lines[loaded[0]], lines
    assert loaded[0] < min(i for i, line in enumerate(lines) if line.startswith("{")), "loaded after a result"
    parent = _top_level(next(line for line in lines if line.startswith("MODULES ")))
    assert "emomucs_core" in parent and not parent & HEAVY, sorted(parent & HEAVY)


def test_a_worker_with_the_built_in_model_loads_no_librosa_numba_or_scipy(songs):
    # What a worker runs (parallel._serve): torch, then a Predictor with the bundle's separator, then files.
    code = _REPORT_MODULES + (
        "from emomucs_core.predictor import Predictor\n"
        "predictor = Predictor(device='cpu', windows=1)\n"
        "assert predictor.separator.id == 'offline:v7', predictor.separator.id\n"
        "results = list(predictor.predict(sys.argv[1:]))\n"
        "assert [r.ok for r in results] == [True, True, False], results\n")
    out = subprocess.run([sys.executable, "-c", code, *map(str, songs)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    worker = _top_level(next(line for line in out.stderr.splitlines() if line.startswith("MODULES ")))
    assert "torch" in worker and not worker & NOT_IN_WORKERS, sorted(worker & NOT_IN_WORKERS)


def test_a_prediction_pickles_without_numpy_or_torch():
    record = Prediction(Path("x.mp3"), valence=0.5, arousal=0.25, windows=[{"start": 1.0, "valence": 0.5,
                                                                            "arousal": 0.25}], model_id="m")
    code = ("import pickle, sys\nr = pickle.loads(sys.stdin.buffer.read())\n"
            "print(r.to_dict()['valence'], r.ok, sorted(m for m in ('numpy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(record), capture_output=True, timeout=60)
    assert out.stdout.decode().split() == ["0.5", "True", "[]"], out.stderr.decode()


def test_the_predictor_module_still_exports_prediction():
    from emomucs_core.predictor import Prediction as Again

    assert Again is Prediction and Prediction.__module__ == "emomucs_core.prediction"


def test_a_worker_heap_keeps_large_freed_blocks_for_the_next_file():
    # glibc's defaults map a 20-MiB block afresh (and unmap it when freed): every page faults in again on the
    # next file. A worker's settings carve it out of the heap and keep it there once freed.
    code = (
        "import ctypes, ctypes.util, resource, sys\n"
        "if 'glibc' not in ' '.join(__import__('platform').libc_ver()):\n"
        "    print('skip'); sys.exit()\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c'))\n"
        "libc.malloc.restype = libc.sbrk.restype = ctypes.c_void_p\n"
        "if sys.argv[1] == 'worker':\n"
        "    from emomucs_core.parallel import _tune_malloc\n"
        "    _tune_malloc()\n"
        "faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "top = libc.sbrk(0)\n"
        "def one_file(size):\n"
        "    block = libc.malloc(size); ctypes.memset(block, 1, size); libc.free(ctypes.c_void_p(block))\n"
        "one_file(20 << 20)\n"
        "grown = libc.sbrk(0) - top\n"
        "before = faults()\n"
        "for size in (18 << 20, 20 << 20, 19 << 20):\n"
        "    one_file(size)\n"
        "print(grown >> 20, faults() - before)\n")
    results = {}
    for setting in ("worker", "default"):
        out = subprocess.run([sys.executable, "-c", code, setting], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        if out.stdout.strip() == "skip":
            pytest.skip("not glibc")
        results[setting] = [int(v) for v in out.stdout.split()]
    heap_growth, faults = results["worker"]
    assert heap_growth >= 16 and faults < 500, results  # in the heap, kept: the next files fault nothing new
    assert results["default"][0] < 16 and results["default"][1] > 10 * faults + 3000, results  # 4-KiB pages
