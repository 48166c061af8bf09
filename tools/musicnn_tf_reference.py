"""Run musicnn's original TensorFlow graph on mel patches: the reference for the torch port (needs TF).

    TF_USE_LEGACY_KERAS=1 /work/tfenv/bin/python tools/musicnn_tf_reference.py IN.npy OUT.npz [--model MSD_musicnn]

``IN.npy``: float32 ``(N, 187, 96)`` musicnn input (``log10(10000 * mel + 1)``, computed in float32).
``OUT.npz``: ``taggram``, ``penultimate``, ``mean_pool``, ``max_pool`` from ``musicnn.models.define_model``
restored from the package's checkpoint, as ``musicnn.extractor.extractor`` does.
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def reference(x: np.ndarray, model: str = "MSD_musicnn") -> dict[str, np.ndarray]:
    import musicnn
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    labels = config.MSD_LABELS if "MSD" in model else config.MTT_LABELS
    with tf.name_scope("model"):
        ph = tf.compat.v1.placeholder(tf.float32, [None, x.shape[1], config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y, _, _, _, _, _, mean_pool, max_pool, penultimate = models.define_model(ph, is_training, model, len(labels))
        taggram = tf.nn.sigmoid(y)
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver().restore(sess, os.path.join(os.path.dirname(musicnn.__file__), model) + "/")
        out = sess.run([taggram, penultimate, mean_pool, max_pool], feed_dict={ph: x, is_training: False})
    return dict(zip(["taggram", "penultimate", "mean_pool", "max_pool"], out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inp")
    parser.add_argument("out")
    parser.add_argument("--model", default="MSD_musicnn")
    args = parser.parse_args()
    np.savez(args.out, **reference(np.load(args.inp).astype(np.float32), args.model))


if __name__ == "__main__":
    main()
