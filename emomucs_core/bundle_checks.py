"""Bounds on a model bundle's header: an edited header is refused before it costs minutes or gigabytes.

No torch here. :func:`check_header` names the first field out of bounds in one line.
"""

from __future__ import annotations

import math
from typing import Any

from .constants import SOURCES

#: (section, key) -> (type, low, high), inclusive; a missing key takes the loader's default.
BOUNDS: dict[tuple[str | None, str], tuple[type, float, float]] = {
    (None, "window_seconds"): (float, 1.0, 60.0),
    (None, "loudness_lufs"): (float, -70.0, 0.0),  # null: not normalised
    ("mel", "samplerate"): (int, 8000, 96000),
    ("mel", "n_fft"): (int, 64, 16384),
    ("mel", "hop_length"): (int, 16, 16384),
    ("mel", "n_mels"): (int, 8, 512),
    ("mel", "amin"): (float, 1e-20, 1e-2),
    ("mel", "n_chroma"): (int, 0, 48),
    ("mel", "chroma_n_fft"): (int, 0, 32768),
    ("mel", "chroma_hop_length"): (int, 0, 32768),
    ("config", "n_mels"): (int, 8, 512),
    ("config", "n_chroma"): (int, 0, 48),
    ("config", "dropout"): (float, 0.0, 0.99),
    ("config", "head_dropout"): (float, 0.0, 0.99),
    ("config", "fusion_hidden"): (int, 0, 4096),
    ("config", "frame_rate"): (float, 1.0, 2000.0),
}
#: Fields whose value may be null.
NULLABLE = {(None, "loudness_lufs")}
#: Inputs a model may read: the mix or separated sources.
INPUTS = ("mix", *SOURCES)


def check_header(header: dict[str, Any]) -> None:
    """Raise ``ValueError`` (one line: the field, its value, the bounds) for a header out of bounds."""
    for section in ("config", "mel", "data", "metrics"):
        if not isinstance(header.get(section, {}), dict):
            raise ValueError(f"header field {section} is not a mapping")
    name = header.get("name", "")
    if not isinstance(name, str) or not 0 < len(name) <= 100 or not name.isprintable() or "/" in name:
        raise ValueError(f"header field name {name!r} is not a short printable name")
    for (section, key), (kind, low, high) in BOUNDS.items():
        where = header.get(section, {}) if section else header
        if key not in where or (where[key] is None and (section, key) in NULLABLE):
            continue
        value = where[key]
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not number or (kind is int and value != int(value)) or not low <= value <= high:
            label = f"{section}.{key}" if section else key
            raise ValueError(f"header field {label}={value!r} is outside {low:g}..{high:g}"
                             f"{' (an integer)' if kind is int else ''}")
    mel = header.get("mel", {})
    if mel.get("hop_length", 0) > mel.get("n_fft", 512):
        raise ValueError(f"header field mel.hop_length={mel['hop_length']} exceeds mel.n_fft={mel.get('n_fft', 512)}")
    sources = header.get("config", {}).get("sources", INPUTS[1:])
    if not isinstance(sources, list | tuple) or not sources or not set(sources) <= set(INPUTS) \
            or len(set(sources)) != len(sources):
        raise ValueError(f"header field config.sources={sources!r} is not a list of distinct {', '.join(INPUTS)}")
    separator = header.get("separator")
    if separator is not None and not (isinstance(separator, dict) and isinstance(separator.get("backend"), str)):
        raise ValueError(f"header field separator={separator!r} is not a separator spec")
