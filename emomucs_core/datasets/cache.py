"""On-disk cache of per-source feature arrays, keyed by audio content, separator and parameters.

One ``.npz`` per (clip, key) at ``<folder>/<key[:2]>/<key>.npz`` holding, per
source, a float16 array ``(K, n_mels + n_chroma, frames)`` plus ``starts`` (window
starts, seconds), computed as the predictor computes them, after the analysed
audio is scaled to :data:`~emomucs_core.loudness.TARGET_LUFS`. The key holds the separator id and the feature parameters, so
``offline:v1`` and ``offline:v2`` entries never mix. Files are written to a temporary name and renamed, so an
interrupted build never leaves a half-written entry and simply resumes; an
unreadable entry is recomputed.

The separated stems are not kept: 4 stems x 20 s x 44.1 kHz stereo float32 is
28 MB per window. Features are enough because the key names the separator.
Entries are uncompressed for fast loading: 5 sources x 3 windows x 96 x 1723
float16 is 5 MB per clip (3 GB for the 600 clips of 4q-dev); ``offline:v2``'s
108 x 862 is 2.8 MB.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..atomic import atomic_path
from ..audio import AudioError, AudioFile
from ..constants import SEPARATION_RATE, WINDOW_SECONDS
from ..features import MelParams
from ..loudness import TARGET_LUFS, normalise_loudness
from ..pipeline import span_stem_features, stem_features
from ..separators import Separator, feature_params
from ..windows import choose_windows, read_spans, read_window
from .clip import Clip

log = logging.getLogger(__name__)

#: Bumped when the stored layout or the feature computation changes.
CACHE_VERSION = 1
_CHUNK = 1 << 20


def file_digest(path: str | Path) -> str:
    """sha256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


class FeatureCache:
    """A folder of cached feature arrays.

    Parameters
    ----------
    folder : where entries live (created on demand); keep it outside the repository.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).expanduser()
        self._digests: dict[tuple[str, int, int], str] = {}
        #: Entries computed (not read) by this object; tests and progress logs use it.
        self.computed = 0

    # -- keys and raw entries ----------------------------------------------
    def digest(self, path: str | Path) -> str:
        """Content hash of ``path``, memoised per (path, size, mtime)."""
        st = os.stat(path)
        memo = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
        if memo not in self._digests:
            self._digests[memo] = file_digest(path)
        return self._digests[memo]

    def key(self, path: str | Path, separator_id: str, params: dict) -> str:
        """sha256 of the file's content digest, the separator id and ``params`` as sorted JSON."""
        blob = json.dumps(
            {"content": self.digest(path), "separator": separator_id, "params": params, "v": CACHE_VERSION},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def entry(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None when absent or unreadable (a corrupt entry is removed)."""
        path = self.entry(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            log.warning("%s: unreadable cache entry, recomputing (%s)", path, exc)
            path.unlink(missing_ok=True)
            return None

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> Path:
        """Store ``arrays`` under ``key`` atomically (temporary file + rename)."""
        path = self.entry(key)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
        return path

    # -- log-mel features --------------------------------------------------
    def lookup(
        self,
        clip_path: str | Path,
        separator_id: str,
        sources: Sequence[str],
        windows: int = 3,
        mel: MelParams | None = None,
        window_seconds: float = WINDOW_SECONDS,
    ) -> dict[str, np.ndarray] | None:
        """Cached features only (nothing computed): ``{source: float16 (K, rows, frames)}`` or None.

        ``separator_id`` is the id the entry was built with (``offline:v1``,
        ``demucs:htdemucs``; ``none`` for mix-only entries built without a separator).
        ``mel`` defaults to the separator's :attr:`~Separator.feature_params`.
        """
        mel = mel or feature_params(separator_id)
        key = self.key(clip_path, separator_id, _mel_params(mel, windows, window_seconds))
        stored = self.load(key)
        if stored is None or not all(s in stored for s in sources):
            return None
        return {s: stored[s] for s in sources}

    def get_or_compute(
        self,
        clip_path: str | Path,
        separator: Separator | None,
        sources: Sequence[str],
        windows: int = 3,
        mel: MelParams | None = None,
        window_seconds: float = WINDOW_SECONDS,
    ) -> dict[str, np.ndarray]:
        """Feature arrays of a clip, from the cache or computed and stored.

        Windows are chosen by :func:`emomucs_core.windows.choose_windows` (``windows``
        spread evenly over the audible part; a clip no longer than
        ``window_seconds`` has one, zero-padded).

        Parameters
        ----------
        sources : any of ``mix``, ``vocals``, ``drums``, ``bass``, ``other``.
        separator : needed unless ``sources`` is only ``mix``. Its id is part of the
            key, also for ``mix``: pass the same separator (it is not called when
            every source is cached) to read the mix from an entry built with stems.

        mel : feature parameters; default: the separator's :attr:`~Separator.feature_params`.

        Returns
        -------
        ``{source: float16 (K, n_mels + n_chroma, frames)}`` with ``K <= windows``.

        Raises
        ------
        AudioError : the clip cannot be decoded or is silent.
        """
        sources = tuple(sources)
        mel = mel or (separator.feature_params if separator is not None else MelParams())
        key = self.key(clip_path, _separator_id(separator, sources), _mel_params(mel, windows, window_seconds))
        stored = self.load(key) or {}
        if all(s in stored for s in sources):
            return {s: stored[s] for s in sources}
        missing = tuple(s for s in sources if s not in stored)
        with AudioFile(clip_path) as audio:
            chosen = choose_windows(audio, windows, window_seconds)
            if separator is not None and separator.analyses_spans:  # read as the predictor reads them
                chosen, spans, length = read_spans(audio, chosen, mel.hop_seconds, separator.span_rate)
                normalise_loudness([a for a, _ in spans], separator.span_rate, TARGET_LUFS)
                feats = span_stem_features(spans, length, missing, separator, mel)
            else:
                read = np.stack([read_window(audio, w) for w in chosen])
                normalise_loudness(list(read), SEPARATION_RATE, TARGET_LUFS)
                feats = stem_features(read, missing, separator, mel)
        stored.update({s: f.astype(np.float16) for s, f in feats.items()})
        stored["starts"] = np.array([w.start for w in chosen], dtype=np.float64)
        self.save(key, stored)
        self.computed += 1
        return {s: stored[s] for s in sources}


def _separator_id(separator: Separator | None, sources: Sequence[str]) -> str:
    if separator is None:
        if any(s != "mix" for s in sources):
            raise ValueError(f"sources {[s for s in sources if s != 'mix']} need a separator")
        return "none"
    return separator.id


def _mel_params(mel: MelParams, windows: int, window_seconds: float) -> dict:
    """What a cache entry's features depend on besides the clip and the separator (part of its key)."""
    return {"mel": mel.to_dict(), "windows": int(windows), "window_seconds": float(window_seconds),
            "loudness_lufs": TARGET_LUFS}


def build_cache(
    clips: Iterable[Clip],
    cache: FeatureCache,
    separator: Separator | None,
    sources: Sequence[str],
    windows: int = 3,
    mel: MelParams | None = None,
    window_seconds: float = WINDOW_SECONDS,
    progress: Callable[[str], None] = log.info,
    compute: Callable | None = None,
) -> dict[str, int]:
    """Fill ``cache`` for every clip, skipping done ones; a bad file is one logged line.

    ``compute(clip) -> None`` replaces the default log-mel step (used for the
    handcrafted features). Logs count, rate (clips/s) and ETA about every 10 s.

    Returns ``{"done": n_ok, "computed": n_new, "failed": n_bad}``.
    """
    clips = list(clips)
    if compute is None:
        def compute(clip: Clip) -> None:
            cache.get_or_compute(clip.path, separator, sources, windows, mel, window_seconds)

    start, last = time.perf_counter(), 0.0
    done = failed = 0
    computed0 = cache.computed
    for i, clip in enumerate(clips, start=1):
        try:
            compute(clip)
            done += 1
        except (AudioError, OSError) as exc:
            failed += 1
            progress(f"{clip.path}: skipped ({exc})".splitlines()[0])
        except Exception as exc:  # a decoder or separator bug must not stop the build
            failed += 1
            progress(f"{clip.path}: failed ({type(exc).__name__}: {exc})".splitlines()[0])
        now = time.perf_counter() - start
        new = cache.computed - computed0
        if now - last >= 10.0 or i == len(clips):
            last = now
            rate = new / now if now > 0 else 0.0
            eta = (len(clips) - i) / rate if rate > 0 else 0.0
            progress(
                f"{i}/{len(clips)} clips ({new} computed, {failed} failed) "
                f"{rate * 60:.1f} clips/min, elapsed {now / 60:.1f} min, ETA {eta / 60:.1f} min"
            )
    return {"done": done, "computed": cache.computed - computed0, "failed": failed}
