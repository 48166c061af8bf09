"""Convert musicnn's TensorFlow checkpoints to the safetensors that emomucs ships (run once, needs TF).

Not part of the product: run it in a throwaway environment that has TensorFlow and musicnn::

    python -m venv /work/tfenv
    /work/tfenv/bin/pip install tensorflow-cpu tf-keras safetensors numpy
    /work/tfenv/bin/pip install --no-deps musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 /work/tfenv/bin/python tools/convert_musicnn.py

It reads ``<musicnn>/<MODEL>/`` with ``tf.compat.v1.train.NewCheckpointReader`` and writes
``emomucs_core/models/musicnn-{msd,mtt}.safetensors`` (the layer names of
:class:`emomucs_core.extractors.musicnn.Musicnn`), with the licence and source in the metadata.
musicnn's layers are unnamed, so TF numbers them in creation order (``conv2d``, ``conv2d_1``, ...);
the tables below follow ``musicnn.models.build_musicnn``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).resolve().parent.parent / "emomucs_core" / "models"
MODELS = {"MSD_musicnn": "musicnn-msd.safetensors", "MTT_musicnn": "musicnn-mtt.safetensors"}

#: TF batch-norm layer index -> torch module (creation order in build_musicnn).
BATCH_NORMS = ["bn_input", "bn_timbral.0", "bn_timbral.1", "bn_temporal.0", "bn_temporal.1", "bn_temporal.2",
               "bn_mid.0", "bn_mid.1", "bn_mid.2", "bn_pool", "bn_dense"]
#: TF conv2d layer index -> (torch module, is a mid-end Conv1d).
CONVS = [("timbral.0", False), ("timbral.1", False), ("temporal.0", False), ("temporal.1", False),
         ("temporal.2", False), ("mid.0", True), ("mid.1", True), ("mid.2", True)]
DENSES = ["dense", "out"]

LICENCE = ("musicnn (c) 2019 Jordi Pons and Xavier Serra, ISC licence "
           "(https://github.com/jordipons/musicnn); weights converted to safetensors by emomucs.")


def _index(layer: str) -> int:
    """``conv2d_5`` -> 5, ``conv2d`` -> 0."""
    m = re.search(r"_(\d+)$", layer)
    return int(m.group(1)) if m else 0


def convert(checkpoint: str) -> dict[str, np.ndarray]:
    """Torch state dict (float32 numpy) of the checkpoint prefix ``checkpoint``."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint)
    state: dict[str, np.ndarray] = {}
    for name in reader.get_variable_to_shape_map():
        parts = name.split("/")
        if len(parts) < 2 or "Adam" in name or parts[-1] not in (
                "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"):
            continue
        layer, var = parts[-2], parts[-1]
        value = reader.get_tensor(name).astype(np.float32)
        i = _index(layer)
        if layer.startswith("batch_normalization"):
            state[f"{BATCH_NORMS[i]}.{var}"] = value
        elif layer.startswith("conv2d"):
            module, is_1d = CONVS[i]
            if var == "kernel":  # TF (kh, kw, in, out) -> torch (out, in, kh, kw) / Conv1d (out, kw, kh)
                value = value[:, :, 0, :].transpose(2, 1, 0) if is_1d else value.transpose(3, 2, 0, 1)
            state[f"{module}.{'weight' if var == 'kernel' else var}"] = value
        elif layer.startswith("dense"):
            if var == "kernel":
                value = value.T
            state[f"{DENSES[i]}.{'weight' if var == 'kernel' else var}"] = value
    return {k: np.ascontiguousarray(v) for k, v in state.items()}


def main() -> None:
    import musicnn
    from safetensors.numpy import save_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    root = Path(musicnn.__file__).parent
    version = importlib.metadata.version("musicnn")
    for model, filename in MODELS.items():
        state = convert(os.path.join(root, model) + "/")
        meta = {"model": model, "source": f"musicnn=={version} (PyPI), {model}/ TF1 checkpoint",
                "licence": "ISC", "authors": "Jordi Pons, Xavier Serra", "notice": LICENCE}
        save_file(state, str(args.out_dir / filename), metadata=meta)
        print(f"{model}: {len(state)} tensors -> {args.out_dir / filename}")


if __name__ == "__main__":
    main()
