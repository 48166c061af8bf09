"""Device choice: cuda, then mps, then cpu."""

from __future__ import annotations

import torch


def choose_device(device: str | torch.device | None = "auto") -> torch.device:
    """The torch device for ``device``: ``auto``/None picks cuda, then mps, then cpu.

    An explicit device that is not available raises ``ValueError``.
    """
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:  # torch's message lists every device type it knows
        raise ValueError(f"unknown device {str(device)!r} (auto, cpu, cuda or mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but MPS is not available")
    return dev
