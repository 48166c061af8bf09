"""The bad-input corpus (emomucs_core.testing.write_bad_inputs) through `emomucs predict --json` and a real beets library.

Every case is generated; each must give its one-line reason (or its warning) and
nothing wrong may be stored: no value for a failed file, other tags untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mediafile import MediaFile

from emomucs_core.testing import write_bad_inputs

pytest.importorskip("beets")
from plugin_fixtures import env, other_tags, plugin_bundle, plugin_config, read_tags  # noqa: E402,F401  (fixtures)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_bad_inputs(tmp_path_factory.mktemp("bad inputs"))


def _predict(*args):
    return subprocess.run([sys.executable, "-m", "emomucs_core.cli", "predict", *map(str, args)],
                          capture_output=True, text=True, timeout=1200)


def test_every_case_through_predict_json(corpus, bundle_path, demucs_repo):
    files = [c for c in corpus if not c.path.is_dir()]  # the CLI walks a folder (here an empty one named *.mp3)
    out = _predict(*[c.path for c in corpus], "--json", "--model", bundle_path, "--demucs-repo", demucs_repo,
                   "--windows", "1", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["path"] for r in records] == [os.path.abspath(c.path) for c in files]  # one record per file
    for case, record in zip(files, records):
        name = case.path.name
        if case.error:
            assert record["error"].startswith(case.error), (name, record["error"])
            assert record["valence"] is None and record["arousal"] is None, name
            assert f"error: {case.path}: {record['error']}" in out.stderr.splitlines()
        else:
            assert record["error"] is None and 0 <= record["valence"] <= 1, (name, record["error"])
            assert record["duration"] > 0
        if case.warning:
            assert any(w.startswith(case.warning) for w in record["warnings"]), (name, record["warnings"])
        assert "\n" not in (record["error"] or "") and all("\n" not in w for w in record["warnings"])
    # stderr holds our own one-line messages only: no decoder chatter (libmpg123 notes) or tracebacks.
    assert all(line.startswith(("error: ", "warning: ", "emomucs: loading model", "emomucs: model "))
               for line in out.stderr.splitlines()), out.stderr


def test_exit_status_when_every_file_fails(corpus, bundle_path, demucs_repo):
    failing = [c.path for c in corpus if c.error and not c.path.is_dir()][:4]
    out = _predict(*failing, "--json", "--model", bundle_path, "--demucs-repo", demucs_repo)
    assert out.returncode == 1
    assert len(out.stdout.splitlines()) == len(failing)
    assert _predict(failing[0], "--model", Path(bundle_path).with_name("nope.safetensors")).returncode == 2
    assert _predict("--json").returncode == 2  # no files: a usage error


def _tag(path: Path) -> bool:
    """Give a corpus file ordinary tags, when it is audio mediafile can tag; whether it could."""
    try:
        mf = MediaFile(str(path))
        mf.update({"title": path.stem, "artist": "Corpus Band", "comments": "keep me"})
        mf.save()
        return True
    except Exception:
        return False


def test_every_case_through_a_beets_library(env, plugin_config, tmp_path):  # noqa: F811  (fixtures)
    cases = write_bad_inputs(tmp_path / "corpus")
    expected = {c.path.name: c for c in cases if c.path.is_file() and not c.path.is_symlink() and _tag(c.path)}
    before = {name: other_tags(c.path) for name, c in expected.items()}
    env.load(**plugin_config)
    env.run_command("import", "-A", "-C", "-q", str(tmp_path / "corpus"))  # -C: the 25-h file stays sparse
    items = list(env.lib.items())
    assert items and {Path(os.fsdecode(i.path)).name for i in items} <= set(expected)
    env.run_command("emomucs", "-w")
    for item in env.lib.items():
        path = Path(os.fsdecode(item.path))
        case = expected[path.name]
        stored = item.get("valence", with_album=False)  # the item's own field, not its album's mean
        if case.error:
            assert stored is None and read_tags(path) == {}, path.name
        else:
            assert stored is not None and 0 <= stored <= 1, path.name
            assert set(read_tags(path)) == {"VALENCE", "AROUSAL", "DOMINANT_SOURCE"}, path.name
        assert other_tags(path) == before[path.name], path.name
