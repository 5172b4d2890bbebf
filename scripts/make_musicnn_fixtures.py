"""Make the musicnn reference fixtures with the ORIGINAL TensorFlow code (throw-away env, not the project's).

Run it in a separate virtualenv that has TensorFlow and the musicnn wheel, never in the project's::

    python3.11 -m venv /work/tfenv
    /work/tfenv/bin/pip install "numpy<2" tensorflow tf-keras "librosa==0.10.*"
    /work/tfenv/bin/pip install --no-deps musicnn-0.1.0-py3-none-any.whl
    TF_USE_LEGACY_KERAS=1 /work/tfenv/bin/python scripts/make_musicnn_fixtures.py tests/fixtures/musicnn

It writes (all ``.npz`` without object arrays, so ``np.load(allow_pickle=False)`` reads them):

``tiny_ckpt/model.index``, ``tiny_ckpt/model.data-00000-of-00001``, ``tiny_expected.npz``
    A checkpoint of a few variables of different dtypes and shapes, saved by ``tf.compat.v1.train.Saver``,
    and the values it holds: the offline test of our checkpoint reader.
``reference.npz``
    ``waveform`` (int16, 16 kHz mono, 12 s of synthesised music), ``patches`` [6, 187, 96] (musicnn's own
    log-mel of that waveform cut into 4 patches, then a silent and a random patch), and for each model
    ``{MTT,MSD}_probs`` [6, 50], ``{MTT,MSD}_penultimate`` [6, 200], ``{MTT,MSD}_logits`` [6, 50].

With ``--tags FILE...`` it instead prints, as JSON, musicnn's own ``top_tags``-style mean taggram for
each file and model, the seconds its librosa front end and the TensorFlow network took on one thread
(CPU time, medians of 5) and the peak RSS (used by ``scripts/bench_realworld.py``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

import musicnn  # noqa: E402
from musicnn import configuration as config  # noqa: E402
from musicnn import extractor as mx  # noqa: E402
from musicnn import models  # noqa: E402

SR = 16000
N_FRAMES = 187


def tiny_checkpoint(out: Path) -> None:
    rng = np.random.default_rng(0)
    values: dict[str, Any] = {
        "dense/kernel": rng.standard_normal((3, 4)).astype(np.float32),
        "dense/bias": np.array([0.5, -1.25, 3.0, 1e-8], np.float32),
        "stats/f64": rng.standard_normal((2, 3)),
        "stats/half": np.array([0.1, -2.5, 65504.0, 6e-8, 0.0], np.float16),
        "counts/int32": np.arange(-4, 4, dtype=np.int32).reshape(2, 2, 2),
        "global_step": np.array(123456789012, np.int64),
        "flags": np.array([True, False, True]),
        "bytes": np.arange(250, 257, dtype=np.int64).astype(np.uint8),
        "empty": np.zeros((0, 3), np.float32),
    }
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.Variable(v, name=k) for k, v in values.items()]
        saver = tf.compat.v1.train.Saver(variables, write_version=tf.compat.v1.train.SaverDef.V2)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            (out / "tiny_ckpt").mkdir(parents=True, exist_ok=True)
            saver.save(sess, str(out / "tiny_ckpt" / "model"), write_meta_graph=False)
    for extra in ("checkpoint",):
        (out / "tiny_ckpt" / extra).unlink(missing_ok=True)
    np.savez(out / "tiny_expected.npz", **{k.replace("/", "__"): v for k, v in values.items()})


def synth_music(seconds: float = 12.0) -> np.ndarray:
    """Drums, bass and chords at 120 BPM: something a tagger has an opinion about, made here."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    beat = 0.5
    for k in range(int(seconds / beat)):
        i = int(k * beat * SR)
        n = min(4000, len(t) - i)
        env = np.exp(-np.arange(n) / 600)
        if k % 2 == 0:  # kick: falling sine
            sweep = 50 + 100 * np.exp(-np.arange(n) / 300)
            y[i : i + n] += 0.8 * env * np.sin(2 * np.pi * np.cumsum(sweep) / SR)
        else:  # snare: noise burst
            y[i : i + n] += 0.3 * env * rng.standard_normal(n)
        j = i + int(beat * SR / 2)  # off-beat hat
        m = min(800, len(t) - j)
        if m > 0:
            y[j : j + m] += 0.1 * np.exp(-np.arange(m) / 100) * rng.standard_normal(m)
    roots = [110.0, 87.31, 130.81, 98.0]  # A F C G
    for bar in range(int(seconds / 2)):
        i, n = bar * 2 * SR, 2 * SR
        f0 = roots[bar % 4]
        seg = t[:n]
        for h, f in enumerate((f0, f0 * 2 * 1.26, f0 * 2 * 1.5, f0 * 4)):
            y[i : i + n] += (
                0.12 / (1 + h) * np.sign(np.sin(2 * np.pi * f * seg)) * np.exp(-seg / 1.5)
            )
    return (np.clip(y / np.max(np.abs(y)) * 0.9, -1, 1) * 32767).astype(np.int16)


def build(model: str, n_frames: int = N_FRAMES) -> tuple[Any, Any, list[Any]]:
    """The original graph with the released weights restored: (session, input placeholder, fetches)."""
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
        is_training = tf.compat.v1.placeholder_with_default(False, [])
        y, *_, penultimate = models.define_model(x, is_training, model, 50)
    one_thread = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=1, inter_op_parallelism_threads=1
    )
    sess = tf.compat.v1.Session(config=one_thread)
    tf.compat.v1.train.Saver().restore(sess, os.path.dirname(musicnn.__file__) + f"/{model}/")
    return sess, x, [tf.nn.sigmoid(y), penultimate, y]


def run_graph(model: str, patches: np.ndarray) -> dict[str, np.ndarray]:
    """All patches in one batch (musicnn's extractor, at batch size 1, repeats patch 0's features)."""
    sess, x, fetches = build(model, patches.shape[1])
    with sess:
        p, pen, lg = sess.run(fetches, feed_dict={x: patches})
    return {"probs": p, "penultimate": pen, "logits": lg}


def reference(out: Path) -> None:
    wave = synth_music()
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "synth.wav"
        sf.write(wav, wave, SR, subtype="PCM_16")
        batch, _ = mx.batch_data(str(wav), N_FRAMES, N_FRAMES)
    rng = np.random.default_rng(2)
    patches = np.concatenate(
        [batch, np.zeros((1, N_FRAMES, 96)), rng.uniform(0, 4, (1, N_FRAMES, 96))]
    ).astype(np.float32)
    arrays: dict[str, Any] = {"waveform": wave, "patches": patches}
    for model in ("MTT_musicnn", "MSD_musicnn"):
        for k, v in run_graph(model, patches).items():
            arrays[f"{model[:3]}_{k}"] = v.astype(np.float32)
    np.savez_compressed(out / "reference.npz", **arrays)


def tags(files: list[str], repeats: int = 5) -> None:
    """Mean taggram per file and model, with one-thread CPU times (median of ``repeats``)."""
    import resource

    import librosa

    result: dict[str, Any] = {"files": {}}
    batches = {}
    for f in files:
        times = []
        for _ in range(repeats):
            t0 = time.process_time()
            batches[f], _ = mx.batch_data(
                f, N_FRAMES, N_FRAMES
            )  # librosa.load + mel, as musicnn does
            times.append(time.process_time() - t0)
        result["files"][f] = {
            "duration_s": librosa.get_duration(path=f),
            "n_patches": len(batches[f]),
            "front_end_s": float(np.median(times)),
        }
    for model in ("MTT_musicnn", "MSD_musicnn"):
        sess, x, fetches = build(model)
        with sess:
            for f, batch in batches.items():
                p = sess.run(fetches[0], feed_dict={x: batch})  # also the warm-up
                timing = {}
                # musicnn's extractor feeds one patch per run (configuration.BATCH_SIZE = 1)
                for label, size in (("network_s", 1), ("network_full_batch_s", len(batch))):
                    times = []
                    for _ in range(repeats):
                        t0 = time.process_time()
                        for s in range(0, len(batch), size):
                            sess.run(fetches[0], feed_dict={x: batch[s : s + size]})
                        times.append(time.process_time() - t0)
                    timing[label] = float(np.median(times))
                result["files"][f][model] = {"mean": p.mean(0).tolist(), **timing}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "--tags":
        tags(sys.argv[2:])
    else:
        dest = Path(sys.argv[1])
        dest.mkdir(parents=True, exist_ok=True)
        tiny_checkpoint(dest)
        reference(dest)
        print("wrote", sorted(p.name for p in dest.rglob("*")))
