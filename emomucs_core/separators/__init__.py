"""Source separators by name: a registry of backends, as beets' replaygain plugin keeps its ``BACKENDS``.

A separator id is ``<backend>[:<model>]``; :func:`make_separator` builds one from
an id or from a bundle's spec (``{"backend": ..., "model": ...}``):

- ``demucs[:<name>]`` (:class:`~.demucs.DemucsSeparator`, default ``htdemucs``): demucs'
  own models through its public loader; stem audio.
- ``offline`` / ``offline:v1`` (:class:`~.offline.OfflineSeparator`): classical masks,
  stem audio; ``offline:v2`` to ``offline:v7`` (:class:`~.variants.MaskedFeatureSeparator`,
  each variant's settings an entry of :data:`~.variants.VARIANTS`): the same kinds of masks
  on one mono STFT, stem features only (no stem audio); ``offline:v7`` is the built-in model's.
- ``spleeter`` / ``spleeter:2stems`` (:class:`~.spleeter.SpleeterSeparator`): vocals
  from Spleeter's pretrained U-Net, the rest from ``offline:v1``'s masks.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from ..features import MelParams
from .base import SEPARATION_RATE, SOURCES, Separator, SeparatorError, UnknownSeparator
from .demucs import DemucsSeparator, load_demucs
from .offline import OfflineSeparator
from .spleeter import SpleeterSeparator
from .variants import V2_PARAMS, V4_PARAMS, VARIANTS, MaskedFeatureSeparator

__all__ = ["BACKENDS", "SEPARATION_RATE", "SOURCES", "Separator", "SeparatorError", "UnknownSeparator", "V2_PARAMS",
           "V4_PARAMS", "feature_params", "load_demucs", "make_separator", "parse_id"]

#: Backend name -> {model: class}; the model ``None`` entry takes any model name. A class whose
#: ``__init__`` takes ``model`` is given the model name.
BACKENDS: dict[str, dict[str | None, type[Separator]]] = {
    "demucs": {None: DemucsSeparator},
    "offline": {"v1": OfflineSeparator, **dict.fromkeys(VARIANTS, MaskedFeatureSeparator)},
    "spleeter": {"2stems": SpleeterSeparator},
}
#: Model used when an id names only the backend.
DEFAULT_MODELS = {"demucs": "htdemucs", "offline": "v1", "spleeter": "2stems"}


def parse_id(spec: Mapping[str, Any] | str) -> tuple[str, str]:
    """``(backend, model)`` of an id (``offline:v2``, ``demucs``) or a spec dict, with the default model filled in."""
    if isinstance(spec, str):
        backend, _, model = spec.partition(":")
    else:
        backend, model = spec.get("backend") or "", spec.get("model") or ""
    if backend not in BACKENDS:
        raise UnknownSeparator(backend, list(BACKENDS))
    return backend, model or DEFAULT_MODELS[backend]


def _backend_class(backend: str, model: str) -> type[Separator]:
    models = BACKENDS[backend]
    if model in models:
        return models[model]
    if None in models:
        return models[None]
    raise UnknownSeparator(f"{backend}:{model}", [f"{backend}:{m}" for m in models])


def make_separator(spec: Mapping[str, Any] | str, **options: Any) -> Separator:
    """Build a separator from its id (``offline:v2``) or spec (``{"backend": ..., "model": ...}``).

    ``options`` (``device``, and for demucs ``repo``, ``shifts``, ...) go to the
    backend; ``None`` values are ignored; an option the backend does not take is a
    :class:`SeparatorError`.
    """
    backend, model = parse_id(spec)
    cls = _backend_class(backend, model)
    options = {k: v for k, v in options.items() if v is not None}
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "model"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise SeparatorError(f"the {backend}:{model} separator takes no option {', '.join(map(repr, unknown))} "
                             f"(it takes: {', '.join(sorted(accepted))})")
    if "model" in inspect.signature(cls.__init__).parameters:
        return cls(model, **options)
    return cls(**options)


def feature_params(spec: Mapping[str, Any] | str | None) -> MelParams:
    """Default feature parameters of models trained on this separator (``None``: mix only, the paper's)."""
    if spec is None or spec == "none":
        return MelParams()
    backend, model = parse_id(spec)
    return _backend_class(backend, model).params_of(model)
