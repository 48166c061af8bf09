"""Where the plugin meets the engine: the model bundle, the predictor and the predictions.

Everything here imports torch lazily, at the first use: loading the plugin
(``beet ls``) stays as fast as without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from beets import util

from .errors import SetupError, model_errors, one_line


def model_option(value: Any, path: str) -> str:
    """The ``model`` option: ``value`` itself when it names a built-in bundle (``musicnn``) and ``path``,
    the file beets resolved it to, does not exist; else ``path``."""
    from emomucs_core.bundle_id import BUILTIN_BUNDLES

    name = str(value)
    return name if name in BUILTIN_BUNDLES and not os.path.exists(path) else path


def load_bundle(path: str | None):
    """The bundle at ``path`` (a path or a built-in name); None: the built-in model."""
    from emomucs_core.checkpoint import load_bundle as load

    return load(path)


def model_id(plugin) -> str:
    """The configured model's id, read from its file without torch until the model is loaded."""
    if plugin._bundle is None:
        from emomucs_core.bundle_id import bundle_id

        try:
            return bundle_id(plugin._path_option("model"))
        except (OSError, ValueError, KeyError):
            pass  # loading it gives the one-line reason
    return plugin.bundle().id


def model_description(path: str | None) -> str:
    """What will be loaded, said before loading it (the bundle path or name, or the built-in model)."""
    return f"model {util.displayable_path(path)}" if path else "the built-in model"


def predictor_options(plugin, device: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """:class:`Predictor` arguments from the configuration, ``device``/``threads`` overriding it (no bundle)."""
    config = plugin.config
    return {
        "separator": config["separator"].get(),
        "device": device or config["device"].as_str(),
        "windows": config["windows"].get(int),
        "batch_size": config["batch_size"].get(int),
        "threads": threads or config["threads"].get(int),
        "demucs_repo": plugin._path_option("demucs_repo"),
    }


def predictor(plugin, device: str | None = None, threads: int | None = None):
    """A :class:`Predictor` for the configuration, built once per process and options (in ``plugin._predictors``)."""
    options = predictor_options(plugin, device, threads)
    key = (options["device"], options["threads"])
    if key not in plugin._predictors:
        from emomucs_core.predictor import Predictor

        try:
            plugin._predictors[key] = Predictor(plugin.bundle(), **options)
        except model_errors():  # already one clear line (SeparatorError is a RuntimeError too)
            raise
        except (ValueError, RuntimeError) as exc:  # e.g. an unavailable or unknown device
            raise SetupError(f"cannot set up the model: {one_line(exc)}") from None
    return plugin._predictors[key]


def predictions(
    plugin, paths: list[str], *, device: str | None = None, threads: int | None = None, jobs: int | None = None
) -> Iterator:
    """One Prediction per path, in order.

    The model loads at the first ``next()``. With ``jobs`` (else the ``jobs``
    option; 0 = one per core) above 1 and more than ``4 * jobs`` files, the
    files go to that many worker processes (:func:`emomucs_core.parallel.predict_files`),
    each loading the model once; fewer files are not worth the workers' start-up
    and run in this process. Results are stored by this process only.
    """
    from emomucs_core.parallel import available_cores, predict_files

    jobs = jobs if jobs is not None else plugin.config["jobs"].get(int)
    jobs = jobs or available_cores()
    if jobs <= 1 or len(paths) <= 4 * jobs:
        yield from plugin.predictor(device, threads).predict(paths)
        return
    yield from predict_files(paths, jobs=jobs, bundle=plugin._path_option("model"),
                             **predictor_options(plugin, device, threads))
