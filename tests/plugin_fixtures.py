"""Fixtures for the beets plugin tests: a real beets library, real audio files, the test model.

The model is the small random-weight bundle and Demucs from conftest.py; the
library, the importer, the commands and the tags are beets' and mutagen's own.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Iterator

import beets.plugins
import mutagen
import pytest
from beets.library import Item
from beets.test.helper import ImportHelper, PluginMixin
from beets.util import cached_classproperty
from mediafile import MediaFile

from emomucs_core.testing import synth_music, write_audio

#: Every format the plugin claims, with a sample rate the codec accepts.
FORMATS = {"mp3": 44100, "flac": 44100, "ogg": 44100, "opus": 48000, "m4a": 44100, "wma": 44100}
SECONDS = 6.0


def make_track(path: Path, seed: int = 0, seconds: float = SECONDS, **tags: Any) -> Path:
    """A short synthetic song at ``path`` (format from the extension) with ordinary tags."""
    rate = FORMATS[path.suffix[1:]]
    write_audio(path, synth_music(seconds, rate, seed=seed, tempo=80 + 15 * seed), rate)
    mf = MediaFile(str(path))
    mf.update({"title": path.stem, "artist": "Synth Band", "album": "Synth Album", "albumartist": "Synth Band",
               "genre": "Test", "comments": "keep me", **tags})
    mf.save()
    return path


def read_tags(path: str | bytes | Path) -> dict[str, str]:
    """VALENCE, AROUSAL and DOMINANT_SOURCE as stored in the file, read with mutagen alone."""
    f = mutagen.File(os.fsdecode(path))
    out: dict[str, str] = {}
    for name in ("VALENCE", "AROUSAL", "DOMINANT_SOURCE"):
        for key in (f"TXXX:{name}", f"----:com.apple.iTunes:{name}", name, name.lower()):
            if f.tags is not None and key in f.tags:
                value = f.tags[key]
                value = value.text[0] if hasattr(value, "text") else value[0]
                out[name] = bytes(value).decode() if isinstance(value, (bytes, mutagen.mp4.MP4FreeForm)) else str(value)
                break
    return out


def other_tags(path: str | bytes | Path) -> dict[str, Any]:
    """Tags that are not the plugin's, read with mutagen (to prove they are untouched)."""
    f = mutagen.File(os.fsdecode(path))
    skip = ("VALENCE", "AROUSAL", "DOMINANT_SOURCE", "EMOMUCS_MODEL")
    return {str(k): str(f.tags[k]) for k in f.tags.keys() if not any(s in str(k).upper() for s in skip)}


class BeetsEnv(PluginMixin, ImportHelper):
    """A temporary beets setup (config, in-memory library, importer) with emomucs loaded on demand."""

    plugin: ClassVar[str] = "emomucs"
    preload_plugin: ClassVar[bool] = False

    def load(self, **plugin_config: Any):
        """Configure and load the plugin (and beets' ``info``, to look at what it shows); returns the instance."""
        self.config["emomucs"].set(plugin_config)
        self.config["plugins"] = ["emomucs", "info"]
        beets.plugins.load_plugins()
        return self.emomucs

    @property
    def emomucs(self):
        return next(p for p in beets.plugins.find_plugins() if p.name == "emomucs")

    def add_tracks(self, folder: str, exts: list[str], seed: int = 0, album: bool = True) -> list[Item]:
        """Generate tracks in ``folder`` and add them to the library (as an album by default)."""
        root = self.temp_path / folder
        root.mkdir(parents=True, exist_ok=True)
        items = []
        for n, ext in enumerate(exts, 1):
            path = make_track(root / f"{n:02d} {folder}.{ext}", seed=seed + n, track=n)
            items.append(Item.from_path(str(path)))
        if album:
            self.lib.add_album(items)
        else:
            for item in items:
                self.lib.add(item)
        return items

    def import_folder(self, folder: Path, **import_config: Any) -> None:
        """Import ``folder`` as-is (no autotagging) with the given import options."""
        self.setup_importer(folder, autotag=False, **import_config).run()


@pytest.fixture(scope="session")
def plugin_bundle(tmp_path_factory) -> Path:
    """The test bundle (conftest.make_bundle: C2D, late fusion, random weights) with 5-s windows.

    The plugin does not depend on the window length; 5-s windows make each
    analysis about 8x cheaper than 20-s ones through the small Demucs.
    """
    from conftest import make_bundle

    bundle = make_bundle()
    bundle.window_seconds = 5.0
    return bundle.save(tmp_path_factory.mktemp("plugin_bundle") / "test5.safetensors")


@pytest.fixture
def plugin_config(plugin_bundle, demucs_repo) -> dict[str, Any]:
    """Plugin configuration with the test model: one window per track, CPU."""
    return {"model": str(plugin_bundle), "demucs_repo": str(demucs_repo), "windows": 1, "device": "cpu",
            "batch_size": 4, "threads": 2}


class DiskBeetsEnv(BeetsEnv):
    """A :class:`BeetsEnv` whose library database is a file on disk."""

    db_on_disk: ClassVar[bool] = True


def _beets_env(cls: type[BeetsEnv]) -> Iterator[BeetsEnv]:
    """A fresh beets setup; beets' per-process class caches are reset around it, as beets' own suite does."""
    cached_classproperty.cache.clear()
    with cls() as e:
        yield e
    cached_classproperty.cache.clear()
    # beets' CLI attaches a handler to the stderr of the moment (pytest's capture): drop it.
    beets_log = logging.getLogger("beets")
    for handler in list(beets_log.handlers):
        beets_log.removeHandler(handler)


@pytest.fixture
def env() -> Iterator[BeetsEnv]:
    """A fresh beets setup with an in-memory library."""
    yield from _beets_env(BeetsEnv)


@pytest.fixture
def disk_env() -> Iterator[BeetsEnv]:
    """A fresh beets setup with its library in a database file."""
    yield from _beets_env(DiskBeetsEnv)


@contextmanager
def immutable(path: str | bytes | Path) -> Iterator[None]:
    """Make ``path`` unwritable even for root (``chattr +i``); skip the test where that is impossible."""
    path = os.fsdecode(path)
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        try:
            yield
        finally:
            os.chmod(path, 0o644)
        return
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", path], capture_output=True).returncode:
        pytest.skip("cannot make a file read-only for root here (no chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", path], check=True)


def without_root_powers() -> tuple[str, ...]:
    """A command prefix under which permission bits hold, for root too (it drops its override capabilities)."""
    if os.geteuid() != 0:
        return ()
    drop = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")
    if not shutil.which("setpriv") or subprocess.run([*drop, "true"], capture_output=True).returncode:
        pytest.skip("root cannot drop its file-permission override here (no setpriv)")
    return drop
