"""Research, not product code: does musicnn on the mix add to musicnn on every stem?

    python tools/musicnn_mix_experiment.py --data ../data4q/Dataset --cache ~/.cache/emomucs/features \
        --out docs/results-4q-900/musicnn-mix

The mix's log-mel rows are the power sum of the four stems' cached rows (``offline:v7``'s stem shares add
up to the mix's power), so no audio is decoded again; musicnn reads them as it reads each stem's
(:func:`~emomucs_core.extractors.musicnn.window_embeddings`). The mix's columns are not one source's, so
a model using them would lose exact per-source Shapley values: this measures whether that would pay.
Nested, artist-grouped 5-fold CV on all 900 clips (seed 0), the recipe's selector; needs ``make cache-4q``
and the recipe's musicnn table (built on first use, about 12 minutes, resumable).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from emomucs_core.constants import SOURCES
from emomucs_core.descriptors import TIMBRE_GROUPS
from emomucs_core.extractors.musicnn import window_embeddings
from emomucs_core.training import recipe
from emomucs_core.training.selection import EXTRACTOR_PENALTIES, EXTRACTOR_SETS, Candidate, DescriptorTable

log = logging.getLogger("musicnn-mix")
MIX_GROUPS = ("mix_musicnn", "mix_musicnn_tags")


def mix_embeddings(clips, cache, mel, separator: str, windows: int) -> dict[str, np.ndarray]:
    """musicnn's 250 values of each window of the mix, ``{clip id: (windows, 250)}``."""
    out = {}
    for n, clip in enumerate(clips, 1):
        entry = cache.lookup(clip.path, separator, tuple(SOURCES), windows, mel)
        if entry is None:
            continue
        db = np.stack([entry[s][:, :mel.n_mels].astype(np.float64) for s in SOURCES])  # (4, K, mels, frames)
        mix = (10 * np.log10(np.sum(10 ** (db / 10), axis=0))).astype(np.float32)
        emb = window_embeddings(torch.from_numpy(mix), mel).numpy()
        out[clip.id] = np.resize(emb, (windows, emb.shape[1]))  # a short clip's windows repeated, as the table's
        if n % 100 == 0:
            log.info("mix: %d/%d clips", n, len(clips))
    return out


def with_mix(table: DescriptorTable, mix: dict[str, np.ndarray]) -> DescriptorTable:
    """``table`` with the mix's musicnn columns appended (groups :data:`MIX_GROUPS`)."""
    keep = np.array([i in mix for i in table.ids])
    ids = np.array(table.ids)[keep]
    cols = np.concatenate([table.column_groups, [MIX_GROUPS[0]] * 200 + [MIX_GROUPS[1]] * 50])
    x = np.concatenate([table.x[keep], np.stack([mix[i] for i in ids])], axis=-1).astype(np.float32)
    return DescriptorTable(x, cols, table.quadrants[keep], table.artists[keep], table.sources,
                           table.groups + MIX_GROUPS, tuple(ids.tolist()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="the 4Q Dataset folder (900 clips)")
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    from emomucs_core.datasets.handcrafted import cached_summary_features

    torch.set_num_threads(1)
    table_args = argparse.Namespace(data=args.data, cache=args.cache, separator="offline:v7", windows=3,
                                    extractors="musicnn")
    table, clips, mel, cache, sep = recipe.load_table(table_args)
    table = with_mix(table, mix_embeddings(clips, cache, mel, sep.id, 3))
    by_id = {c.id: c for c in clips}
    sets = {"timbre + musicnn": TIMBRE_GROUPS + ("musicnn",),
            "timbre + musicnn + mix musicnn": TIMBRE_GROUPS + ("musicnn", "mix_musicnn"),
            "timbre + mix musicnn": TIMBRE_GROUPS + ("mix_musicnn",),
            "mix musicnn + mix tags": MIX_GROUPS}
    chosen_among = list(EXTRACTOR_SETS.values()) + [g for name, g in sets.items() if "mix" in name]
    recipes = {"selected (stems and mix sets)": tuple(Candidate(tuple(g), C) for g in chosen_among
                                                      for C in EXTRACTOR_PENALTIES),
               **{name: tuple(Candidate(g, C) for C in EXTRACTOR_PENALTIES) for name, g in sets.items()}}
    hand = np.stack([cached_summary_features(by_id[i].path, cache) for i in table.ids])
    result = recipe.evaluate_recipe(table, hand, recipes, k=5, inner_k=5, seed=0, jobs=args.jobs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result))
    log.info("report: %s", recipe.write_report(result, args.out, "musicnn on the mix beside musicnn on every "
                                                                 "stem (research, 900 clips, offline:v7)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
