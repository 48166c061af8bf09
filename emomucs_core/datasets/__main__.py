"""Precompute the feature cache of a dataset.

    python -m emomucs_core.datasets --dataset 4q --data DIR --cache DIR \
        --windows 3 --separator offline [--sources mix,vocals,drums,bass,other] [--handcrafted]

Stem features first, then (with ``--handcrafted``) the handcrafted summary
features. Done clips are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from ..constants import WINDOW_SECONDS

log = logging.getLogger("emomucs.build_cache")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emomucs_core.datasets", description=__doc__.split("\n")[1])
    parser.add_argument("--dataset", required=True, help="pmemo, 4q, deam or csv")
    parser.add_argument("--data", required=True, help="dataset folder (for csv: the CSV file)")
    parser.add_argument("--cache", required=True, help="cache folder")
    parser.add_argument("--windows", type=int, default=3, help="windows per clip (K)")
    parser.add_argument("--window-seconds", type=float, default=WINDOW_SECONDS)
    parser.add_argument("--separator", default="offline", help="offline, spleeter or demucs[:model]")
    parser.add_argument("--demucs-repo", default=None)
    parser.add_argument("--sources", default="mix,vocals,drums,bass,other")
    parser.add_argument("--handcrafted", action="store_true", help="also cache the handcrafted features (after)")
    parser.add_argument("--no-stems", action="store_true", help="skip the log-mel features")
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (default 1: leave a core free)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips")
    parser.add_argument("--shard", default="0/1",
                        help="I/N: only clips I, I+N, I+2N, ... (run N processes side by side)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)

    from . import load_dataset
    from .cache import FeatureCache, build_cache
    from .handcrafted import cached_summary_features
    from ..separators import make_separator

    index, _, count = args.shard.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        parser.error(f"--shard must be I/N with 0 <= I < N, not {args.shard!r}")
    clips = load_dataset(args.dataset, args.data)[: args.limit][int(index) :: int(count)]
    cache = FeatureCache(args.cache)
    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
    log.info("%d clips of %s from %s into %s", len(clips), args.dataset, args.data, cache.folder)
    t0 = time.perf_counter()
    if not args.no_stems:
        separator = None
        if any(s != "mix" for s in sources):
            separator = make_separator(args.separator, repo=args.demucs_repo, device="cpu")
        log.info("log-mel features: sources %s, separator %s, %d windows of %.0f s",
                 ",".join(sources), separator.id if separator else "none", args.windows, args.window_seconds)
        stats = build_cache(clips, cache, separator, sources, args.windows,
                            window_seconds=args.window_seconds, progress=log.info)
        log.info("log-mel features finished: %s", stats)
    if args.handcrafted:
        log.info("handcrafted features")
        stats = build_cache(clips, cache, None, (), progress=log.info,
                            compute=lambda clip: cached_summary_features(clip.path, cache))
        log.info("handcrafted features finished: %s", stats)
    log.info("all done in %.1f min", (time.perf_counter() - t0) / 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
