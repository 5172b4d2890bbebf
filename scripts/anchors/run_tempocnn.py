"""tempocnn 0.0.8 anchor (Schreiber & Müller, ISMIR 2018): global tempo from the ``fcn`` and ``cnn`` models.

Both models read the same features (tempocnn's own: 11025 Hz, 40 mel bands, 256-frame windows), which are
computed once per file and counted as the decode time of each.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import tensorflow as tf  # noqa: E402
from _runner import serve, timed  # noqa: E402
from tempocnn.classifier import TempoClassifier  # noqa: E402
from tempocnn.feature import read_features  # noqa: E402

MODELS = ("fcn", "cnn")
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
CLASSIFIERS = {name: TempoClassifier(name) for name in MODELS}


def analyse(path: str):
    import librosa

    start = time.process_time()
    features = read_features(path)
    decode_s = time.process_time() - start
    duration_s = float(librosa.get_duration(path=path))

    def tempo(name: str):
        return lambda: {"tempo": float(CLASSIFIERS[name].estimate_tempo(features, interpolate=False))}

    return duration_s, decode_s, {name: timed(tempo(name)) for name in MODELS}


if __name__ == "__main__":
    serve(analyse)
