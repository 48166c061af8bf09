"""The bad-input corpus (emomucs_core.testing.write_bad_inputs) through `emomucs predict --json` and a real beets library.

Every case is generated; each must give its one-line reason (or its warning) and
nothing wrong may be stored: no value for a failed file, other tags untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mediafile import MediaFile

from emomucs_core.printable import printable
from emomucs_core.testing import synth_music, write_audio, write_bad_inputs

pytest.importorskip("beets")
from beets.ui import UserError  # noqa: E402
from plugin_fixtures import env, other_tags, plugin_bundle, plugin_config, read_tags  # noqa: E402,F401  (fixtures)
from plugin_fixtures import without_root_powers  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_bad_inputs(tmp_path_factory.mktemp("bad inputs"))


def _emomucs(*args, prefix: tuple[str, ...] = ()):
    return subprocess.run([*prefix, sys.executable, "-m", "emomucs_core.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=1200)


def _predict(*args, prefix: tuple[str, ...] = ()):
    return _emomucs("predict", *args, prefix=prefix)


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
            assert f"error: {printable(case.path)}: {printable(record['error'])}" in out.stderr.splitlines()
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


def _warned(case) -> bool:
    """Whether the plugin's test model (5-s windows, plugin_fixtures) gives the case its warning: 8 s is not short there."""
    return bool(case.warning) and not case.warning.startswith("short track")


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
    env.run_command("emomucs", "-w")  # the import analysed them (auto); failures are not retried without -f
    for item in env.lib.items():
        path = Path(os.fsdecode(item.path))
        case = expected[path.name]
        stored = item.get("valence", with_album=False)  # the item's own field, not its album's mean
        if case.error:
            assert stored is None and read_tags(path) == {}, path.name
        else:
            assert stored is not None and 0 <= stored <= 1, path.name
            assert set(read_tags(path)) == {"VALENCE", "AROUSAL", "DOMINANT_SOURCE"}, path.name
        if _warned(case):  # stored, so that a query finds the values that deserve less trust
            assert case.warning in (item.get("emomucs_warnings", with_album=False) or ""), path.name
        assert other_tags(path) == before[path.name], path.name
    warned = {Path(os.fsdecode(i.path)).name for i in env.lib.items("emomucs_warnings::.")}
    assert {n for n, c in expected.items() if _warned(c)} <= warned

    # A forced re-analysis of files now empty, corrupt or gone clears the old values and all that follows them.
    analysed = {Path(os.fsdecode(i.path)).name: i for i in env.lib.items() if i.get("valence", with_album=False)}
    spoiled = {"cover-art.mp3": b"", "quiet.flac": b"not audio any more " * 500, "short-8s.mp3": None}
    assert set(spoiled) <= set(analysed)
    moods = {analysed[n].get("mood", with_album=False) for n in spoiled}
    for name, data in spoiled.items():
        path = Path(os.fsdecode(analysed[name].path))
        path.unlink() if data is None else path.write_bytes(data)
    with pytest.raises(UserError, match="3 tracks of 3 failed"):
        query = [q for n in spoiled for q in (",", f"path:{os.fsdecode(analysed[n].path)}")][1:]  # one OR another
        env.run_command("emomucs", "-f", "-w", *query)
    for name, data in spoiled.items():
        item = env.lib.get_item(analysed[name].id)
        assert item.get("emomucs_error", with_album=False), name
        derived = ["valence", "arousal", "mood", "dominant_source", "emomucs_model", "emomucs_warnings",
                   "emomucs_mood_confidence", "emomucs_vocals_valence", "emomucs_drums_arousal"]
        assert all(item.get(f, with_album=False) is None for f in derived), name
        path = Path(os.fsdecode(item.path))
        assert (not path.exists()) if data is None else path.read_bytes() == data, name  # nothing written
    listed = {i.id for m in moods for i in env.lib.items(f"mood:{m}")}
    assert not listed & {analysed[n].id for n in spoiled}


def test_permission_errors_are_one_line_per_path(tmp_path, bundle_path, demucs_repo):
    """An unreadable file, a file in a folder that cannot be searched, a subfolder that cannot be listed."""
    prefix = without_root_powers()
    good = write_audio(tmp_path / "good.flac", synth_music(6, 44100, seed=1), 44100)
    unreadable, locked, library = tmp_path / "unreadable.flac", tmp_path / "locked", tmp_path / "library"
    (library / "sub").mkdir(parents=True)
    locked.mkdir()
    for copy in (unreadable, locked / "inside.flac", library / "ok.flac", library / "sub" / "x.flac"):
        shutil.copy(good, copy)
    modes = {unreadable: 0o000, locked: 0o600, library / "sub": 0o000}
    for path, mode in modes.items():
        os.chmod(path, mode)
    try:
        out = _predict(good, unreadable, locked / "inside.flac", library, "--json", "--model", bundle_path,
                       "--demucs-repo", demucs_repo, "--windows", "1", "--device", "cpu", "-j", "1", prefix=prefix)
    finally:
        for path in modes:
            os.chmod(path, 0o755)
    assert out.returncode == 0, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {unreadable}: permission denied",
                      f"error: {locked / 'inside.flac'}: permission denied",
                      f"error: {library / 'sub'}: permission denied (a folder that cannot be read)"], out.stderr
    records = {r["path"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert records[str(good)]["error"] is None and records[str(library / "ok.flac")]["error"] is None
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("option", [("--device", "banana"), ("--windows", "0"), ("--windows", "-1")])
def test_bad_options_are_refused_in_one_line(option, music_files, bundle_path):
    out = _predict(music_files["wav"], "--model", bundle_path, *option)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert option[1] in out.stderr and not out.stdout


def test_a_bundle_out_of_bounds_is_refused_in_one_line_by_predict_and_info(tmp_path, music_files):
    from conftest import make_bundle

    bundle = make_bundle()
    bundle.window_seconds = 1e9
    path = bundle.save(tmp_path / "edited.safetensors")
    for args in (("predict", music_files["wav"], "--model", path), ("info", "--model", path)):
        out = _emomucs(*args)
        lines = [line for line in out.stderr.splitlines() if not line.startswith("emomucs: loading")]
        assert out.returncode == 2 and len(lines) == 1, out.stderr
        assert str(path) in lines[0] and "window_seconds=1000000000.0 is outside 1..60" in lines[0]
