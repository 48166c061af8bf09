"""Model bundles: one safetensors file with weights, config, separator, data and metrics.

Only tensors and a JSON header are stored, so loading a bundle never executes
code from the file (no pickle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path
from .bundle_checks import check_header
from .bundle_id import HEADER_KEY, bundle_path, content_digest
from .constants import WINDOW_SECONDS
from .features import MelParams
from .nets import EmoMucs, NetConfig

#: Version of the bundle layout; bumped on incompatible changes.
FORMAT_VERSION = 1
_KEY = HEADER_KEY


class BundleError(Exception):
    """A bundle that cannot be loaded: missing, corrupt or incompatible."""


@dataclass
class Bundle:
    """A trained model with everything needed to use and describe it.

    Attributes
    ----------
    model : the network, in eval mode.
    config : its :class:`NetConfig`.
    mel : feature parameters the model was trained with (``n_chroma`` > 0: chroma rows
        follow the mel rows; bundles from before chroma have none).
    window_seconds : length of one model window.
    separator : spec of the separator used in training (``{"backend", "model"}``),
        or ``None`` for mix-only models.
    extractors : pretrained networks the descriptors run (:data:`~emomucs_core.descriptors.EXTRACTOR_GROUPS`),
        each as :func:`~emomucs_core.extractors.musicnn.extractor_record` gives it; loading checks that the
        installed weights are those.
    loudness_lufs : integrated loudness (LUFS) the analysed signal of a track is scaled to
        before any feature (:mod:`emomucs_core.loudness`); ``None``: not scaled (bundles
        from before loudness normalisation).
    data : description of the training data.
    metrics : evaluation results.
    name : human name; :attr:`id` adds a content hash.
    """

    model: EmoMucs
    mel: MelParams = field(default_factory=MelParams)
    window_seconds: float = WINDOW_SECONDS
    separator: dict[str, Any] | None = None
    loudness_lufs: float | None = None
    extractors: list[dict[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    name: str = "emomucs"
    digest: str = ""

    @property
    def config(self) -> NetConfig:
        return self.model.cfg

    @property
    def id(self) -> str:
        """``<name>-<first 8 hex of the content digest>``: changes whenever the header or the weights do."""
        return f"{self.name}-{(self.digest or _digest(json.dumps(self.header()), self.model.state_dict()))[:8]}"

    def header(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "config": self.config.to_dict(),
            "mel": self.mel.to_dict(),
            "window_seconds": self.window_seconds,
            "separator": self.separator,
            "loudness_lufs": self.loudness_lufs,
            **({"extractors": self.extractors} if self.extractors else {}),
            "data": self.data,
            "metrics": self.metrics,
        }

    def save(self, path: str | Path) -> Path:
        """Write the bundle to ``path`` (a ``.safetensors`` file) atomically."""
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        header_text = json.dumps(self.header())
        self.digest = _digest(header_text, state)
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata={_KEY: header_text})
        return Path(path)


def load_bundle(path: str | Path | None = None) -> Bundle:
    """Load a bundle: a path, a built-in name (``"musicnn"``, :data:`~.bundle_id.BUILTIN_BUNDLES`), or ``None``
    for the default model shipped with the package.

    Raises :class:`BundleError` with the file and the reason on any problem.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = bundle_path(path)
    if not path.is_file():
        raise BundleError(f"{path}: model bundle not found")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"{path}: not a valid model bundle ({exc})") from None
    if _KEY not in meta:
        raise BundleError(f"{path}: not an emomucs bundle (no '{_KEY}' header)")
    try:
        header = json.loads(meta[_KEY])
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: corrupt bundle header ({exc})") from None
    if not isinstance(header, dict):
        raise BundleError(f"{path}: corrupt bundle header (not a JSON object)")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format {version} is not supported (this emomucs reads {FORMAT_VERSION})")
    try:
        check_header(header)
    except ValueError as exc:
        raise BundleError(f"{path}: {exc}") from None
    extractors = header.get("extractors", [])
    try:
        _check_extractors(extractors, header.get("config", {}).get("descriptor_groups", []))
    except ValueError as exc:
        raise BundleError(f"{path}: {exc}") from None
    try:
        config = NetConfig.from_dict(header["config"])
        mel = MelParams(**header.get("mel", {}))
        loudness = header.get("loudness_lufs")
        loudness = None if loudness is None else float(loudness)
        model = EmoMucs(config)
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise BundleError(f"{path}: weights do not match the bundle's config ({_first_line(exc)})") from None
    model.eval()
    return Bundle(
        model=model,
        mel=mel,
        window_seconds=float(header.get("window_seconds", WINDOW_SECONDS)),
        separator=header.get("separator"),
        loudness_lufs=loudness,
        extractors=extractors,
        data=header.get("data", {}),
        metrics=header.get("metrics", {}),
        name=header.get("name", path.stem),
        digest=_digest(meta[_KEY], state),
    )


def _check_extractors(extractors: Any, groups: list) -> None:
    """ValueError (one line) unless every extractor group in ``groups`` has a record whose weights are installed."""
    from .descriptors import EXTRACTOR_GROUPS
    from .extractors.musicnn import check_record

    if not isinstance(extractors, list) or not all(isinstance(e, dict) for e in extractors):
        raise ValueError(f"header field extractors={extractors!r} is not a list of extractor records")
    names = {e.get("name") for e in extractors}
    if any(g in EXTRACTOR_GROUPS for g in groups) and "musicnn" not in names:
        raise ValueError("its descriptors run musicnn but the header records no musicnn weights")
    for record in extractors:
        if record.get("name") != "musicnn":
            raise ValueError(f"unknown extractor {record.get('name')!r} (this emomucs has: musicnn)")
        check_record(record)


def _digest(header_text: str, state: dict[str, torch.Tensor]) -> str:
    """:func:`content_digest` of a header text and tensors in memory."""
    return content_digest(header_text, ((k, state[k].detach().cpu().contiguous().numpy().tobytes())
                                        for k in sorted(state)))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200]
