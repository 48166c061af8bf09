"""A bundle's id read straight from its file, without torch (what the plugin compares stored values with)."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Bundle shipped inside the package and used when no model is configured.
DEFAULT_BUNDLE = Path(__file__).parent / "models" / "emomucs-default.safetensors"
#: Bundles shipped inside the package, by the name a user may give instead of a path (``model: musicnn``).
BUILTIN_BUNDLES = {"default": DEFAULT_BUNDLE,
                   "musicnn": Path(__file__).parent / "models" / "emomucs-musicnn.safetensors"}
#: Key of the emomucs header in the safetensors metadata.
HEADER_KEY = "emomucs"


def content_digest(header_text: str, tensors: Iterable[tuple[str, bytes]]) -> str:
    """sha256 (hex) of a bundle's content: its emomucs header text as stored, then each tensor's name and bytes.

    ``tensors``: ``(name, little-endian bytes)`` in name order. Any edit of the
    header (a window length, the name, a metric) or of the weights gives another digest.
    """
    digest = hashlib.sha256(b"emomucs bundle\0")
    digest.update(header_text.encode())
    for key, data in tensors:
        digest.update(b"\0" + key.encode() + b"\0")
        digest.update(data)
    return digest.hexdigest()


def bundle_path(path: str | Path | None) -> Path:
    """The file of a bundle given as a path, a :data:`BUILTIN_BUNDLES` name, or None (the built-in model)."""
    if not path:
        return DEFAULT_BUNDLE
    if str(path) in BUILTIN_BUNDLES and not Path(path).exists():
        return BUILTIN_BUNDLES[str(path)]
    return Path(path).expanduser()


def bundle_id(path: str | Path | None = None) -> str:
    """``<name>-<first 8 hex of the content digest>`` of a bundle file: :attr:`Bundle.id` without loading it.

    The digest (:func:`content_digest`) covers the emomucs header as stored and
    each tensor's stored bytes in key order, as :class:`~emomucs_core.checkpoint.Bundle`
    does with the loaded bundle (little-endian float32 on disk and in memory).
    ``None``: the built-in model.

    Raises ``OSError`` or ``ValueError`` for a missing or malformed file.
    """
    path = bundle_path(path)
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        meta = header.pop("__metadata__", None) or {}
        if HEADER_KEY not in meta:
            raise ValueError(f"{path}: not an emomucs bundle")
        name = json.loads(meta[HEADER_KEY]).get("name", path.stem)

        def tensors() -> Iterator[tuple[str, bytes]]:
            for key in sorted(header):
                start, end = header[key]["data_offsets"]
                f.seek(8 + size + start)
                yield key, f.read(end - start)

        return f"{name}-{content_digest(meta[HEADER_KEY], tensors())[:8]}"
