"""Artist-grouped cross-validation splits (no artist in both train and test)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .clip import Clip


def _groups(clips: Sequence[Clip]) -> np.ndarray:
    return np.array([c.group for c in clips])


def _strata(clips: Sequence[Clip]) -> np.ndarray | None:
    quadrants = [c.quadrant for c in clips]
    return None if any(q is None for q in quadrants) else np.array(quadrants)


def group_kfold(clips: Sequence[Clip], k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` folds grouped by artist (else id), stratified by quadrant when every clip has one.

    Returns a list of ``(train_idx, test_idx)`` integer arrays into ``clips``.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    groups = _groups(clips)
    if len(set(groups)) < k:
        raise ValueError(f"{len(set(groups))} groups cannot make {k} folds")
    strata = _strata(clips)
    index = np.zeros(len(clips))
    if strata is not None:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        folds = splitter.split(index, strata, groups)
    else:
        # GroupKFold has no shuffle before sklearn 1.6: permute groups ourselves.
        rng = np.random.default_rng(seed)
        names = np.unique(groups)
        relabel = dict(zip(names, rng.permutation(len(names))))
        folds = GroupKFold(n_splits=k).split(index, groups=[relabel[g] for g in groups])
    return [(np.sort(tr), np.sort(te)) for tr, te in folds]


def inner_split(
    train_idx: Sequence[int], clips: Sequence[Clip], fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``train_idx`` into (fit, validation) by artist, about ``fraction`` for validation.

    Stratified by quadrant when available (one fold of ``round(1 / fraction)``).
    """
    train_idx = np.asarray(train_idx)
    sub = [clips[i] for i in train_idx]
    k = max(2, int(round(1.0 / fraction)))
    fit, val = group_kfold(sub, k, seed)[0]
    return train_idx[fit], train_idx[val]
