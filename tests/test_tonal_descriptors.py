"""Harmony descriptors from chroma rows: mode, dissonance, salience, key invariance, silence."""

from __future__ import annotations

import pytest
import torch

from emomucs_core.descriptors import (
    GROUPS, TONAL_GROUPS, descriptor_size, group_sizes, key_correlations, window_descriptors,
)

RATE = 22050 / 512
FRAMES = 862  # 20 s at hop 512
N_MELS = 96


def window(*chords: list[int], frames: int = FRAMES) -> torch.Tensor:
    """A feature window ``(1, 96 + 12, frames)``: noise log-mel, chroma cycling through ``chords``."""
    torch.manual_seed(0)
    mel = torch.randn(1, N_MELS, frames) * 5 - 40
    chroma = torch.full((1, 12, frames), 1e-4)
    span = frames // len(chords)
    for i, pcs in enumerate(chords):
        for p in pcs:
            chroma[0, p, i * span : (i + 1) * span] = 1.0
    return torch.cat([mel, 10 * torch.log10(chroma)], dim=1)


def tonal(x: torch.Tensor) -> dict[str, torch.Tensor]:
    d = window_descriptors(x, RATE, TONAL_GROUPS, n_mels=N_MELS)[0]
    sizes = group_sizes(N_MELS)
    return dict(zip(TONAL_GROUPS, d.split([sizes[g] for g in TONAL_GROUPS])))


def test_sizes_and_order():
    x = window([0, 4, 7])
    d = window_descriptors(x, RATE, GROUPS, n_mels=N_MELS)
    assert d.shape == (1, descriptor_size(N_MELS, GROUPS)) == (1, 260 + 55 + 250)  # timbre, tonal, musicnn
    # any subset is the same columns as in the full vector (one code path, canonical order)
    sub = window_descriptors(x, RATE, ("musicnn_tags", "key", "mfcc"), n_mels=N_MELS)
    assert torch.allclose(sub, torch.cat([d[:, :60], d[:, 260 + 24 : 260 + 32], d[:, -50:]], dim=1))


def test_major_and_minor_triads_differ_in_mode():
    major, minor = tonal(window([0, 4, 7]))["key"], tonal(window([0, 3, 7]))["key"]
    assert major[3] > 0 > minor[3]  # clarity = best major - best minor correlation
    assert major[4] > 0 > minor[4]  # the same over 3-s segments
    # a minor progression (i - iv - v in A minor) reads minor, its relative major (I - IV - V in C) major
    assert tonal(window([9, 0, 4], [2, 5, 9], [4, 7, 11]))["key"][3] < tonal(window([0, 4, 7], [5, 9, 0], [7, 11, 2]))["key"][3]


def test_key_invariance_of_tonal_descriptors():
    c, e_flat = tonal(window([0, 4, 7], [5, 9, 0])), tonal(window([3, 7, 10], [8, 0, 3]))
    for g in TONAL_GROUPS:
        assert torch.allclose(c[g], e_flat[g], atol=1e-4), g


def test_dissonance_and_salience():
    triad, cluster, single = tonal(window([0, 4, 7])), tonal(window([0, 1, 2])), tonal(window([0]))
    assert cluster["dissonance"][0] > 3 * triad["dissonance"][0]
    assert single["dissonance"][0] < 1e-3
    assert single["salience"][0] > triad["salience"][0] > 0.3  # largest share: 1 vs 1/3
    assert single["salience"][2] < triad["salience"][2]  # entropy


def test_harmonic_change_rate_grows_with_chord_changes():
    still = tonal(window([0, 4, 7]))["tonnetz"][6]
    moving = tonal(window(*[[0, 4, 7], [2, 6, 9], [5, 9, 0], [7, 11, 2]] * 8))["tonnetz"][6]
    assert moving > still + 0.05


def test_silence_and_short_windows_are_finite():
    silent = torch.full((2, N_MELS + 12, FRAMES), -100.0)
    short = window([0, 4, 7], frames=20)
    for x in (silent, short):
        assert torch.isfinite(window_descriptors(x, RATE, GROUPS, n_mels=N_MELS)).all()
    assert torch.allclose(key_correlations(torch.ones(3, 12)), torch.zeros(3, 24))


def test_tonal_groups_need_chroma_rows():
    with pytest.raises(ValueError, match="chroma"):
        window_descriptors(torch.zeros(1, N_MELS, 100), RATE, ("key",))
    with pytest.raises(ValueError, match="unknown"):
        window_descriptors(torch.zeros(1, N_MELS, 100), RATE, ("timbre",))


def test_finer_chroma_rows_are_read_at_the_tonal_frame_rate():
    """``offline:v4``'s features (86 frames/s, chroma interpolated between its 43 frames/s): the chroma groups
    read every second frame, the chroma STFT's own, and equal the descriptors of those frames."""
    coarse = window([0, 4, 7], [2, 5, 9], [7, 11, 2], frames=200)
    fine = torch.nn.functional.interpolate(coarse, size=399, mode="linear", align_corners=True)
    assert torch.equal(fine[..., ::2], coarse)
    at_fine = window_descriptors(fine, 2 * RATE, TONAL_GROUPS, n_mels=N_MELS)
    torch.testing.assert_close(at_fine, window_descriptors(coarse, RATE, TONAL_GROUPS, n_mels=N_MELS))
    # The timbre groups read every frame.
    assert not torch.equal(window_descriptors(fine, 2 * RATE, ("flux",), n_mels=N_MELS),
                           window_descriptors(coarse, RATE, ("flux",), n_mels=N_MELS))
