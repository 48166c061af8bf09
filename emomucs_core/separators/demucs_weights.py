"""Demucs ``.th`` weights loaded without running code from the file.

Demucs saves a model as a pickled dict ``{"klass", "args", "kwargs", "state"}``
(``demucs.states.serialize_model``); demucs' own loader unpickles it with
``weights_only=False``, so a crafted file can run any code. Here the file is
read with ``torch.load(weights_only=True)`` and an allow-list of exactly the
globals such a package holds: demucs' model classes and ``fractions.Fraction``
(the ``segment`` argument); the model is then built by demucs' own
``load_model`` from the checked dict. Bags (``<name>.yaml``) and checksums
(``<sig>-<sha256[:8]>.th``) follow demucs' local-repo layout through demucs'
own repo classes.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import torch


class DemucsWeightsError(RuntimeError):
    """A demucs weights file that cannot be loaded safely; the message is one line."""


def _model_classes() -> tuple[type, ...]:
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    return (Demucs, HDemucs, HTDemucs)


def load_package(path: str | Path) -> dict:
    """The checked ``{"klass", "args", "kwargs", "state"}`` dict of a demucs ``.th`` file."""
    path = Path(path)
    classes = _model_classes()
    try:
        with torch.serialization.safe_globals([*classes, Fraction]):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors: reduce to their first line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DemucsWeightsError(f"{path.name}: not a demucs weights file that loads without running code "
                                 f"({reason[:200]})") from None
    if not isinstance(package, dict) or not {"klass", "args", "kwargs", "state"} <= set(package):
        raise DemucsWeightsError(f"{path.name}: not a demucs model package (klass, args, kwargs, state)")
    if package["klass"] not in classes:
        raise DemucsWeightsError(f"{path.name}: unknown demucs model class {package['klass']!r}")
    return package


def load_local_model(repo: Path, name: str):
    """Model or bag ``name`` from a demucs local repo folder, with every ``.th`` read by :func:`load_package`."""
    from demucs.repo import AnyModelRepo, BagOnlyRepo, LocalRepo, ModelLoadingError, check_checksum
    from demucs.states import load_model

    class SafeLocalRepo(LocalRepo):
        def get_model(self, sig: str):
            if sig not in self._models:
                raise ModelLoadingError(f"Could not find pre-trained model with signature {sig}.")
            if sig in self._checksums:
                check_checksum(self._models[sig], self._checksums[sig])
            return load_model(load_package(self._models[sig]))

    models = SafeLocalRepo(repo)
    model = AnyModelRepo(models, BagOnlyRepo(repo, models)).get_model(name)
    return model.eval()
