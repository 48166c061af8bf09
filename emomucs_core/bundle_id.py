"""A bundle's id read straight from its file, without torch (what the plugin compares stored values with)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

#: Bundle shipped inside the package and used when no model is configured.
DEFAULT_BUNDLE = Path(__file__).parent / "models" / "emomucs-default.safetensors"
#: Key of the emomucs header in the safetensors metadata.
HEADER_KEY = "emomucs"


def bundle_id(path: str | Path | None = None) -> str:
    """``<name>-<first 8 hex of the weights' sha256>`` of a bundle file: :attr:`Bundle.id` without loading it.

    Reads the safetensors header and hashes each tensor's stored bytes in key
    order, as :class:`~emomucs_core.checkpoint.Bundle` does with the loaded
    weights (little-endian float32 on disk and in memory). ``None``: the built-in model.

    Raises ``OSError`` or ``ValueError`` for a missing or malformed file.
    """
    path = Path(path).expanduser() if path else DEFAULT_BUNDLE
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        meta = header.pop("__metadata__", None) or {}
        name = json.loads(meta[HEADER_KEY]).get("name", path.stem) if HEADER_KEY in meta else None
        if name is None:
            raise ValueError(f"{path}: not an emomucs bundle")
        digest = hashlib.sha256()
        for key in sorted(header):
            start, end = header[key]["data_offsets"]
            f.seek(8 + size + start)
            digest.update(key.encode())
            digest.update(f.read(end - start))
    return f"{name}-{digest.hexdigest()[:8]}"
