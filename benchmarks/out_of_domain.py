"""Out-of-domain check: rank correlation of predicted and annotated valence and arousal on PMEmo clips.

    python benchmarks/out_of_domain.py --data ../shared/data/pmemo-samples/PMEmo2019 [--model A.safetensors ...]

Each bundle (default: the built-in model) predicts every clip of a PMEmo folder (its own layout); prints the
values per clip and Spearman's rho of valence and of arousal against the annotations' static means. None
of these clips was used to train or choose anything. With the 4 sample clips this is a smoke check: rho
moves in steps of 0.2, one swapped pair is -0.2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def spearman(a, b) -> float:
    """Spearman's rho of two 1-D sequences (ranks by argsort; no ties expected in continuous values)."""
    ra, rb = (np.argsort(np.argsort(np.asarray(x, float))) for x in (a, b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="PMEmo folder (chorus/, annotations/)")
    parser.add_argument("--model", action="append", default=None, help="bundle file (repeatable); default built in")
    args = parser.parse_args(argv)
    from emomucs_core.datasets.pmemo import load_pmemo
    from emomucs_core.predictor import Predictor

    clips = load_pmemo(args.data)
    for model in args.model or [None]:
        predictor = Predictor(bundle=model)
        preds = list(predictor.predict([c.path for c in clips]))
        print(f"{predictor.bundle.id} on {len(clips)} PMEmo clips ({args.data})")
        for clip, p in zip(clips, preds):
            print(f"  {clip.id:>6}  valence {clip.valence:.3f} -> {p.valence:.3f}   arousal {clip.arousal:.3f} -> "
                  f"{p.arousal:.3f}")
        ok = [(c, p) for c, p in zip(clips, preds) if p.error is None]
        print(f"  Spearman rho: valence {spearman([c.valence for c, _ in ok], [p.valence for _, p in ok]):+.2f}, "
              f"arousal {spearman([c.arousal for c, _ in ok], [p.arousal for _, p in ok]):+.2f} ({len(ok)} clips)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
