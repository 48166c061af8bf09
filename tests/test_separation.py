"""The Demucs backend on demucs' own classes and loader, and failing fast without weights."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from emomucs_core.separators import SOURCES, SeparatorError, make_separator
from emomucs_core.separators.demucs import DemucsSeparator
from emomucs_core.testing import synth_music


def test_demucs_backend_runs_a_model_loaded_by_demucs(demucs_repo):
    from demucs.htdemucs import HTDemucs

    sep = make_separator({"backend": "demucs", "model": "htdemucs"}, repo=demucs_repo, device="cpu")
    assert isinstance(sep, DemucsSeparator) and isinstance(sep.model.models[0], HTDemucs)
    assert sep.id == "demucs:htdemucs"
    windows = torch.from_numpy(np.stack([synth_music(5, seed=s).T for s in (1, 2)]))
    stems = sep.separate(windows)
    assert set(stems) == set(SOURCES)
    for stem in stems.values():
        assert stem.shape == windows.shape and torch.isfinite(stem).all()
    # Stems are distinct signals of the input's scale, not copies.
    assert not torch.allclose(stems["vocals"], stems["drums"])
    assert 0.01 < float(sum(stems.values()).abs().max()) < 100


def test_shifts_overlap_and_segment_reach_apply_model(demucs_repo):
    sep = DemucsSeparator(repo=demucs_repo, device="cpu", shifts=2, overlap=0.5, segment=2)
    x = torch.from_numpy(synth_music(3).T[None].copy())
    torch.manual_seed(0)
    a = sep.separate(x)["vocals"]
    sep.shifts = 1
    b = sep.separate(x)["vocals"]
    assert a.shape == b.shape and not torch.allclose(a, b)  # random shifts were applied


def test_silent_input_gives_finite_stems(demucs_repo):
    sep = DemucsSeparator(repo=demucs_repo, device="cpu")
    stems = sep.separate(torch.zeros(1, 2, 44100 * 2))
    assert all(torch.isfinite(s).all() for s in stems.values())


def test_missing_repo_and_model_are_clear_errors(tmp_path, demucs_repo):
    with pytest.raises(SeparatorError, match="not a folder"):
        DemucsSeparator(repo=tmp_path / "nope")
    with pytest.raises(SeparatorError, match="cannot load demucs model 'mdx'"):
        DemucsSeparator(model="mdx", repo=demucs_repo)


def test_no_weights_and_no_network_fails_fast(tmp_path):
    """Without a local copy the loader stops at once with instructions, instead of retrying."""
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(tmp_path / "torch")}
    code = (
        "from emomucs_core.separators.demucs import DemucsSeparator, SeparatorError\n"
        "try:\n    DemucsSeparator('htdemucs')\nexcept SeparatorError as e:\n    print(e)\n"
    )
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 20
    assert "demucs_repo" in out.stdout and "offline" in out.stdout and "Hugging Face" in out.stdout


def test_unknown_backend():
    with pytest.raises(SeparatorError, match="unknown separator backend 'openunmix'"):
        make_separator("openunmix")


def test_device_auto_is_cpu_here():
    from emomucs_core.device import choose_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert choose_device("auto").type in (expected, "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            choose_device("cuda")


def test_under_float16_autocast_demucs_convolutions_run_in_half_and_its_stfts_in_float32(demucs_repo, monkeypatch):
    """What ``DemucsSeparator(half=True)`` relies on on CUDA, checked with the CPU's float16 autocast."""
    import demucs.htdemucs as htdemucs

    seen = []
    for name in ("spectro", "ispectro"):
        real = getattr(htdemucs, name)
        monkeypatch.setattr(htdemucs, name, lambda x, *a, _real=real, _name=name, **k:
                            (seen.append((_name, x.dtype)), _real(x, *a, **k))[1])
    model = DemucsSeparator(repo=demucs_repo, device="cpu").model.models[0]
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda module, inputs, output: seen.append(("conv", output.dtype)))
    with torch.inference_mode(), torch.autocast("cpu", torch.float16):
        out = model(torch.from_numpy(synth_music(4, 44100).T.copy())[None])
    assert ("conv", torch.float16) in seen
    assert {d for n, d in seen if n == "spectro"} == {torch.float32}
    assert {d for n, d in seen if n == "ispectro"} == {torch.complex64}
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
