"""The model-spec grammar: ``<arch>-<input>[-<mode>][-<head>][-summary][-desc][-linear]``."""

from __future__ import annotations

from dataclasses import dataclass

from ..constants import SOURCES
from ..nets import ARCHS, FUSIONS, HEADS, NetConfig

STEMS = SOURCES
#: Training modes (:mod:`~emomucs_core.training.trainer`).
MODES = ("full", "freeze", "finetune")


@dataclass
class ModelSpec:
    """A named model variant: network config and training mode."""

    name: str
    cfg: NetConfig
    mode: str = "full"


def parse_spec(spec: str, head: str = "regression", stems: tuple[str, ...] = STEMS) -> ModelSpec:
    """Parse ``<arch>-<input>[-<mode>][-<head>][-summary][-desc][-linear]``.

    arch : ``c1d`` | ``c2d`` | ``desc``; input : ``m``/``mix`` (mix baseline), a stem name
    (single-source model) or a fusion ``early``/``mid``/``late`` (EmoMucs over ``stems``);
    mode : ``full`` (default) | ``freeze`` | ``finetune``; head : ``regression`` |
    ``logistic`` | ``quadrant`` (default ``head``); ``summary`` adds the per-band
    statistics branch and ``desc`` the descriptor branch to every source model;
    ``linear`` makes the fusion head linear (:class:`~emomucs_core.nets.NetConfig`).
    Examples: ``c2d-m``, ``c2d-late-freeze``, ``c1d-mid-finetune``, ``c1d-early-freeze-quadrant-desc-linear``.
    """
    parts = spec.lower().split("-")
    if len(parts) < 2 or parts[0] not in ARCHS:
        raise ValueError(f"bad model spec {spec!r}: expected <arch>-<input>[-<mode>][-<head>]")
    arch, what, rest = parts[0], parts[1], parts[2:]
    mode = next((p for p in rest if p in MODES), "full")
    head = next((p for p in rest if p in HEADS), head)
    flags = {"summary": "summary" in rest, "descriptors": "desc" in rest}
    if "linear" in rest:
        flags["fusion_hidden"] = 0
    unknown = [p for p in rest if p not in MODES and p not in HEADS and p not in ("summary", "desc", "linear")]
    if unknown:
        raise ValueError(f"bad model spec {spec!r}: unknown part(s) {unknown}")
    if what in ("m", "mix"):
        cfg = NetConfig(arch=arch, sources=("mix",), head=head, **flags)
    elif what in stems:
        cfg = NetConfig(arch=arch, sources=(what,), head=head, **flags)
    elif what in FUSIONS:
        cfg = NetConfig(arch=arch, sources=tuple(stems), fusion=what, head=head, **flags)
    else:
        raise ValueError(f"bad model spec {spec!r}: input {what!r} is not m, a stem or a fusion")
    if len(cfg.sources) == 1 and mode != "full":
        raise ValueError(f"bad model spec {spec!r}: {mode} needs a fused model")
    if cfg.arch == "desc" and mode != "freeze":
        raise ValueError(f"bad model spec {spec!r}: desc models train in freeze mode only")
    return ModelSpec(spec, cfg, mode)
