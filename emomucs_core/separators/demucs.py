"""Demucs (default ``htdemucs``) through demucs' own public loader and ``apply_model``.

Weights come from a local folder (``repo``, demucs' ``--repo`` layout), the
Hugging Face cache, or the network, in that order.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import torch

from .base import SEPARATION_RATE, SOURCES, Separator, SeparatorError

log = logging.getLogger(__name__)


class DemucsSeparator(Separator):
    """Demucs (default ``htdemucs``) via ``demucs.pretrained.get_model`` and ``apply_model``.

    Parameters
    ----------
    model : demucs model or bag name.
    repo : local folder holding ``<sig>.th`` files and ``<name>.yaml`` bags
        (demucs' ``--repo`` layout). Without it the Hugging Face cache is used,
        then the network.
    device : ``auto`` (cuda, then mps, then cpu) or a torch device string.
    shifts, overlap, segment : passed to ``demucs.apply.apply_model``. ``shifts``
        defaults to 0, not demucs' 1: random shifts make results differ between
        runs, and a tagger must give the same values twice.
    half : on CUDA, run the model under float16 autocast (about half the memory, so
        larger batches; demucs' STFTs stay float32, as a test checks under the CPU's
        float16 autocast). Ignored on other devices. Not run on CUDA here: the
        development machine has no GPU (``benchmarks/bench_gpu.py`` times it where there is one).
    """

    backend = "demucs"
    gpu = True

    def __init__(
        self,
        model: str = "htdemucs",
        *,
        repo: str | Path | None = None,
        device: str = "auto",
        shifts: int = 0,
        overlap: float = 0.25,
        segment: float | None = None,
        half: bool = True,
    ):
        super().__init__(device)
        self.variant = model
        self.shifts, self.overlap, self.segment = shifts, overlap, segment
        self.half = half and self.device.type == "cuda"
        self.model = load_demucs(model, repo)
        self.model.to(self.device)
        missing = set(SOURCES) - set(self.model.sources)
        if missing:
            raise SeparatorError(f"demucs model {model!r} lacks sources {sorted(missing)}")
        if self.model.samplerate != SEPARATION_RATE or self.model.audio_channels != 2:
            raise SeparatorError(f"demucs model {model!r} is not stereo {SEPARATION_RATE} Hz")

    def separate(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stems ``{source: (batch, 2, n)}`` (CPU, float32) of ``(batch, 2, n)`` windows at 44.1 kHz."""
        from demucs.apply import apply_model

        windows = windows.to(self.device, torch.float32)
        # Demucs normalises by the mixture's statistics, as demucs.separate does.
        ref = windows.mean(dim=1, keepdim=True)
        mean = ref.mean(dim=-1, keepdim=True)
        std = ref.std(dim=-1, keepdim=True).clamp_min(1e-8)
        with torch.inference_mode(), torch.autocast(self.device.type, torch.float16, enabled=self.half):
            out = apply_model(
                self.model,
                (windows - mean) / std,
                shifts=self.shifts,
                overlap=self.overlap,
                segment=self.segment,
                split=True,
                device=self.device,
                progress=False,
            )
        out = (out.float() * std.unsqueeze(1) + mean.unsqueeze(1)).cpu()
        return {name: out[:, self.model.sources.index(name)] for name in SOURCES}


def load_demucs(name: str, repo: str | Path | None = None):
    """Load a demucs model or bag with demucs' own loader, failing fast when there are no weights.

    Looks in ``repo`` when given; otherwise in the Hugging Face cache, and only
    then on the network (if the hub's host resolves).
    """
    from demucs.pretrained import get_model
    from demucs.repo import ModelLoadingError

    from .demucs_weights import DemucsWeightsError, load_local_model

    if repo is not None:
        repo = Path(repo).expanduser()
        if not repo.is_dir():
            raise SeparatorError(f"demucs repo {repo} is not a folder")
        try:
            return load_local_model(repo, name)
        except (ModelLoadingError, DemucsWeightsError, OSError, KeyError, TypeError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SeparatorError(f"cannot load demucs model {name!r} from {repo}: {reason}") from None
    cached = _load_from_hf_cache(name)
    if cached is not None:
        return cached
    if os.environ.get("HF_HUB_OFFLINE") or not _host_resolves("huggingface.co"):
        raise SeparatorError(_no_weights_message(name))
    try:  # the hub's safetensors only: demucs' legacy fallback would unpickle with weights_only=False
        return get_model(name if name.startswith("hf://") else f"hf://{name}")
    except Exception as exc:  # network, checksum, missing model: one message
        raise SeparatorError(f"{_no_weights_message(name)} (download failed: {exc})") from None


def _load_from_hf_cache(name: str):
    """The model from the local Hugging Face cache with no network access, or None."""
    try:
        import yaml
        from demucs.apply import BagOfModels
        from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name, load_safetensors_model
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    namespace, short = name.split("/", 1) if "/" in name else (DEFAULT_NAMESPACE, name)
    repo_id = f"{namespace}/{hf_repo_name(short)}"
    bag_file = try_to_load_from_cache(repo_id, f"{short}.yaml")
    if not isinstance(bag_file, str):
        return None
    with open(bag_file) as f:
        bag = yaml.safe_load(f)
    files = [try_to_load_from_cache(repo_id, f"{sig}.safetensors") for sig in bag["models"]]
    if not all(isinstance(f, str) for f in files):
        return None
    model = BagOfModels([load_safetensors_model(f) for f in files], bag.get("weights"), bag.get("segment"))
    return model.eval()


def _host_resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


def _no_weights_message(name: str) -> str:
    return (
        f"demucs weights for {name!r} are not available offline and the model hub cannot be reached; "
        f"download them once on a connected machine (`python -m demucs -n {name} any.wav` fills the "
        "Hugging Face cache, ~/.cache/huggingface) and copy the cache here, or point `demucs_repo` at a "
        "folder with the model's .th/.yaml files, or use the offline separator (`--separator offline`)"
    )
