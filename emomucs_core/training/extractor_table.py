"""Pretrained-extractor embeddings of every clip's cached feature windows, per source (resumable).

    python -m emomucs_core.training.extractor_table --data DIR --cache DIR [--separator offline:v7]

For each clip of a 4Q folder, reads its cached features (:class:`~emomucs_core.datasets.cache.FeatureCache`,
built by ``make cache-4q``) and runs :func:`~emomucs_core.extractors.musicnn.window_embeddings` on every
window of every source: float32 ``(N, K, sources, 250)`` stored at ``<cache>/tables/musicnn-<key>.npz``
with the clip ids. Progress is saved every ``--every`` clips, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..constants import SOURCES, WINDOW_SECONDS

log = logging.getLogger("emomucs.extractor_table")
#: Bumped when the embedding computation changes (part of the stored table's key).
VERSION = 1
EMBED_SOURCES = tuple(SOURCES)  # the stems the built-in model reads (no mix: every feature belongs to one source)


def table_file(cache, clips, separator_id: str, mel, windows: int, model: str) -> Path:
    """``<cache>/tables/musicnn-<key>.npz``: the key hashes every clip's feature key, the model and VERSION."""
    from ..datasets.cache import _mel_params

    params = _mel_params(mel, windows, WINDOW_SECONDS)
    keys = [cache.key(c.path, separator_id, params) for c in clips]
    blob = json.dumps([keys, list(EMBED_SOURCES), model, VERSION]).encode()
    return cache.folder / "tables" / f"musicnn-{hashlib.sha256(blob).hexdigest()[:16]}.npz"


def load(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


def save(path: Path, ids: list[str], emb: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, ids=np.array(ids), x=np.stack(emb).astype(np.float32), sources=np.array(EMBED_SOURCES))


def build(clips, cache, separator_id: str, mel, windows: int = 3, model: str = "MSD_musicnn",
          every: int = 50) -> Path:
    """Fill the table of ``clips`` (skipping clips already in it); returns its path."""
    import torch

    from ..extractors.musicnn import window_embeddings

    path = table_file(cache, clips, separator_id, mel, windows, model)
    stored = load(path)
    ids = list(stored.get("ids", np.array([], str)).tolist())
    emb = list(stored["x"]) if ids else []
    done = set(ids)
    todo = [c for c in clips if c.id not in done]
    start = time.perf_counter()
    for i, clip in enumerate(todo, start=1):
        entry = cache.lookup(clip.path, separator_id, EMBED_SOURCES, windows, mel)
        if entry is None:
            log.info("%s: not in the feature cache, skipped", clip.path)
            continue
        k = entry[EMBED_SOURCES[0]].shape[0]
        batch = torch.from_numpy(np.concatenate([entry[s].astype(np.float32) for s in EMBED_SOURCES]))
        out = window_embeddings(batch, mel, model).numpy()  # (sources * K, 250)
        emb.append(out.reshape(len(EMBED_SOURCES), k, -1).transpose(1, 0, 2))
        ids.append(clip.id)
        if i % every == 0 or i == len(todo):
            save(path, ids, [np.resize(e, (windows,) + e.shape[1:]) for e in emb])
            rate = i / (time.perf_counter() - start)
            log.info("%d/%d clips, %.1f clips/min, ETA %.1f min", i, len(todo), rate * 60, (len(todo) - i) / rate / 60)
    return path


def with_extractor_columns(table, path: Path):
    """``table`` (a :class:`~.selection.DescriptorTable`) with the stored musicnn embeddings of its clips as the
    :data:`~emomucs_core.descriptors.EXTRACTOR_GROUPS` of every source, columns in the bundle's order
    (per source: its descriptor groups, then ``musicnn``, then ``musicnn_tags``). Clips without embeddings are
    dropped (logged)."""
    from ..descriptors import EXTRACTOR_GROUPS, group_sizes
    from .selection import DescriptorTable

    stored = load(path)
    if not stored:
        raise FileNotFoundError(f"{path}: no extractor table (run python -m emomucs_core.training.extractor_table)")
    row = {i: n for n, i in enumerate(stored["ids"].tolist())}
    keep = np.array([i in row for i in table.ids])
    if not keep.all():
        log.info("%d clips without musicnn embeddings dropped", int((~keep).sum()))
    emb = stored["x"][[row[i] for i in np.array(table.ids)[keep]]]  # (N, K, sources, 250)
    per_source = table.x.shape[-1] // len(table.sources)
    sizes = group_sizes(0)
    blocks, cols = [], []
    for j, source in enumerate(table.sources):
        blocks += [table.x[keep][..., j * per_source:(j + 1) * per_source], emb[:, :, EMBED_SOURCES.index(source)]]
        cols += list(table.column_groups[j * per_source:(j + 1) * per_source])
        cols += [g for g in EXTRACTOR_GROUPS for _ in range(sizes[g])]
    return DescriptorTable(np.concatenate(blocks, axis=-1).astype(np.float32), np.array(cols),
                           table.quadrants[keep], table.artists[keep], table.sources,
                           table.groups + EXTRACTOR_GROUPS, tuple(np.array(table.ids)[keep].tolist()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emomucs_core.training.extractor_table",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument("--separator", default="offline:v7")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--model", default="MSD_musicnn")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    import torch

    from ..datasets import load_dataset
    from ..datasets.cache import FeatureCache
    from ..separators import feature_params

    torch.set_num_threads(args.threads)
    clips = load_dataset("4q", args.data)
    path = build(clips, FeatureCache(args.cache), args.separator, feature_params(args.separator), args.windows,
                 args.model)
    log.info("table: %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
