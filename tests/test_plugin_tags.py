"""File tags: configurable names, the model id, the mood tag, case variants, safe writes.

Real files in every format, written through beets (``beet write``) or the
plugin's safe writer, read back with mutagen alone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import mutagen
import pytest
from beets.library import Item
from mutagen.id3 import TXXX
from mutagen.mp4 import MP4FreeForm

from beetsplug.emomucs.writing import write_item_tags, write_tags
from plugin_fixtures import FORMATS, env, make_track, read_tags  # noqa: F401

VALUES = {"valence": 0.61234, "arousal": 0.2, "dominant_source": "bass", "mood": "calm",
          "emomucs_model": "emomucs-test-1234abcd"}


def all_tags(path) -> dict[str, str]:
    """Every text tag of the file as ``{key as stored: first value}`` (mutagen only)."""
    f = mutagen.File(os.fsdecode(path))
    if f.tags is None:
        return {}
    if hasattr(f.tags, "_internal"):  # Vorbis comments: every (name, value) pair as stored
        return dict(f.tags._internal)
    out = {}
    for key, value in f.tags.items():
        first = getattr(value, "text", value)
        first = first[0] if isinstance(first, list) and first else first
        first = getattr(first, "value", first)  # ASF attributes
        out[key] = bytes(first).decode() if isinstance(first, (bytes, MP4FreeForm)) else str(first)
    return out


def named(tags: dict[str, str], name: str) -> dict[str, str]:
    """The entries whose name (TXXX description, atom or comment name) is ``name`` in any case."""
    def bare(key: str) -> str:
        return key.split(":")[-1]

    return {k: v for k, v in tags.items() if bare(k).lower() == name.lower()}


def library_track(env, ext: str, **values) -> Item:
    path = make_track(env.temp_path / f"t.{ext}", seed=2)
    item = Item.from_path(str(path))
    item.update({**VALUES, **values})
    env.lib.add(item)
    return item


def digest(path) -> str:
    return hashlib.sha256(Path(os.fsdecode(path)).read_bytes()).hexdigest()


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_model_id_is_written_and_the_mood_tag_is_off_by_default(env, ext):
    env.load()
    item = library_track(env, ext)
    env.run_command("write", "-f")
    tags = all_tags(item.path)
    assert list(named(tags, "EMOMUCS_MODEL").values()) == ["emomucs-test-1234abcd"]
    assert list(named(tags, "VALENCE").values()) == ["0.612"]
    assert not named(tags, "MOOD") and not named(tags, "TMOO") and not named(tags, "WM/Mood")


@pytest.mark.parametrize("ext, key", [("mp3", "TMOO"), ("flac", "mood"), ("ogg", "mood"), ("opus", "mood"),
                                      ("m4a", "----:com.apple.iTunes:MOOD"), ("wma", "WM/Mood")])
def test_mood_tag_when_asked(env, ext, key):
    env.load(mood_tag=True)
    item = library_track(env, ext)
    env.run_command("write", "-f")
    tags = {k.lower(): v for k, v in all_tags(item.path).items()}
    assert tags[key.lower()] == "calm"


def test_tag_names_are_configurable_and_info_shows_them_under_clear_names(env, capsys):
    env.load(tags={"valence": "EMO_VALENCE", "model": "EMO_MODEL"})
    item = library_track(env, "flac")
    env.run_command("write", "-f")
    tags = {k.upper(): v for k, v in all_tags(item.path).items()}
    assert tags["EMO_VALENCE"] == "0.612" and tags["EMO_MODEL"] == VALUES["emomucs_model"]
    assert "VALENCE" not in tags and tags["AROUSAL"] == "0.200"  # the others keep their default names
    env.run_command("info", str(item.filepath))
    info = capsys.readouterr().out
    assert "emo_valence_tag: 0.612" in info and "arousal_tag: 0.2" in info
    assert "emo_model_tag: emomucs-test-1234abcd" in info


def test_tags_off(env):
    env.load(tags=False)
    item = library_track(env, "mp3")
    env.run_command("write", "-f")
    assert read_tags(item.path) == {}


def add_foreign_lowercase_valence(path: Path) -> None:
    """What another tagger (e.g. VibeNet) writes: a lowercase ``valence`` of its own."""
    f = mutagen.File(str(path))
    ext = path.suffix[1:]
    if ext == "mp3":
        f.tags.add(TXXX(encoding=3, desc="valence", text=["0.999"]))
    elif ext == "m4a":
        f["----:com.apple.iTunes:valence"] = [MP4FreeForm(b"0.999")]
    else:  # Vorbis comments (FLAC, Ogg, Opus) and ASF
        f["valence"] = ["0.999"]
    f.save()


@pytest.mark.parametrize("ext", sorted(FORMATS))
@pytest.mark.parametrize("writer", ["beet write", "plugin"])
def test_our_tag_replaces_any_case_variant(env, ext, writer):
    plugin = env.load()
    item = library_track(env, ext)
    add_foreign_lowercase_valence(item.filepath)
    assert list(named(all_tags(item.path), "VALENCE").values()) == ["0.999"]
    if writer == "beet write":
        env.run_command("write", "-f")
    else:
        assert write_item_tags(plugin, item)
    assert list(named(all_tags(item.path), "VALENCE").values()) == ["0.612"]


# -- safe writes ------------------------------------------------------------------


def untagged_mp3(folder: Path) -> Path:
    """An MP3 without any tag: adding one must move every audio byte (the risky case)."""
    from emomucs_core.testing import synth_music, write_audio

    path = write_audio(folder / "untagged.mp3", synth_music(20, 44100, seed=3), 44100)
    assert mutagen.File(str(path)).tags is None
    return path


def test_interrupted_write_leaves_the_file_whole(tmp_path, monkeypatch):
    """An interruption in the middle of mutagen's byte move (here a KeyboardInterrupt after it has
    damaged the file it works on) leaves the original untouched and no temporary file."""
    import mutagen.id3._file as id3_file

    from beetsplug.emomucs.tags import DEFAULT_TAGS, register_media_fields

    attrs = register_media_fields(DEFAULT_TAGS)
    path = untagged_mp3(tmp_path)
    os.chmod(path, 0o640)
    before = digest(path)

    def interrupted_insert(fobj, size, offset):
        fobj.seek(offset)
        fobj.write(b"\0" * 100)  # half-moved audio
        raise KeyboardInterrupt

    monkeypatch.setattr(id3_file, "insert_bytes", interrupted_insert)
    with pytest.raises(KeyboardInterrupt):
        write_tags(str(path), {attrs["valence"]: 0.5})
    assert digest(path) == before and sorted(os.listdir(tmp_path)) == ["untagged.mp3"]
    monkeypatch.undo()
    write_tags(str(path), {attrs["valence"]: 0.5})
    assert read_tags(path) == {"VALENCE": "0.500"}
    assert os.stat(path).st_mode & 0o777 == 0o640 and sorted(os.listdir(tmp_path)) == ["untagged.mp3"]


def test_write_through_a_symlink_keeps_the_link(tmp_path):
    from beetsplug.emomucs.tags import DEFAULT_TAGS, register_media_fields

    attrs = register_media_fields(DEFAULT_TAGS)
    target = make_track(tmp_path / "real.flac", seed=1)
    link = tmp_path / "link.flac"
    link.symlink_to(target)
    write_tags(str(link), {attrs["arousal"]: 0.25})
    assert link.is_symlink() and read_tags(target) == {"AROUSAL": "0.250"}


STRACE_SCRIPT = """
import sys
from mediafile import MediaFile
from beetsplug.emomucs.tags import DEFAULT_TAGS, register_media_fields
from beetsplug.emomucs.writing import write_tags
attrs = register_media_fields(DEFAULT_TAGS)
values = {attrs["valence"]: 0.5, attrs["arousal"]: 0.25}
if sys.argv[1] == "safe":
    write_tags(sys.argv[2], values)
else:  # what the plugin did before: mutagen rewriting the file in place
    mf = MediaFile(sys.argv[2])
    mf.update(values)
    mf.save()
"""


def test_sigint_on_the_tag_write_as_reproduced_with_strace(tmp_path):
    """The issue's reproduction: strace delivers SIGINT at the first write() of the tag write."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed (make install installs it where apt-get can)")
    script = tmp_path / "write.py"
    script.write_text(STRACE_SCRIPT)
    outcome = {}
    for mode in ("in-place", "safe"):
        folder = tmp_path / mode
        folder.mkdir()
        path = untagged_mp3(folder)
        before = digest(path)
        run = subprocess.run(
            ["strace", "-f", "-o", os.devnull, "-e", "trace=write", "-e", "inject=write:signal=SIGINT:when=1",
             sys.executable, "-B", str(script), mode, str(path)],
            capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1],
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # even under a background job
        )
        if "ptrace" in run.stderr or "Operation not permitted" in run.stderr:
            pytest.skip(f"strace cannot trace here: {run.stderr.strip().splitlines()[0]}")
        assert run.returncode != 0 and "KeyboardInterrupt" in run.stderr, run.stderr
        outcome[mode] = (digest(path) == before, read_tags(path), sorted(os.listdir(folder)))
    # In place, the interrupted write damages the file (the bug); the safe write leaves it whole.
    assert outcome["in-place"][0] is False and outcome["in-place"][1] == {}
    assert outcome["safe"] == (True, {}, ["untagged.mp3"])
