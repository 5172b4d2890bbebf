#!/usr/bin/env python
"""Sanity bench for the generated corpus: how far does a trivial model get?

Logistic regression on clip-mean MFCC (20) + chroma (12), trained on the ``train`` split
(FluidSynth fonts FluidR3 GM/GS/Mono and TiMidity++/freepats) and scored on the ``test`` split
(compositions never in training, rendered with a SoundFont never in training, csound's
sf_GMbank) and on ``val`` (another unseen font, OPL-3 FM).  If this scored near 1.0 the corpus
would be too easy: a tagger could learn the generator instead of the music.

Prints one table: split, clips, genre macro ROC-AUC, mood macro ROC-AUC, plus an in-font
reference (5-fold cross-validation inside the training split, compositions held out).

    nice -n 10 python scripts/bench_corpus_baseline.py --manifest corpus/full/manifest.csv
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

MOODS = ("happy", "sad", "energetic", "calm", "tense", "tender")


def features(path: str) -> np.ndarray:
    """Mean MFCC (20) and mean chroma (12) of one clip, at 22.05 kHz mono."""
    import librosa

    y, sr = librosa.load(path, sr=22050, mono=True, res_type="soxr_hq")
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr)
    return np.concatenate([mfcc.mean(axis=1), chroma.mean(axis=1)]).astype(np.float32)


def load_features(df: pd.DataFrame, root: Path, cache: Path, workers: int) -> np.ndarray:
    have: dict[str, np.ndarray] = {}
    if cache.exists():
        z = np.load(cache)
        have = dict(zip(z["ids"].tolist(), z["x"], strict=True))
    todo = [r for r in df.itertuples() if r.clip_id not in have]
    if todo:
        with ProcessPoolExecutor(workers) as pool:
            for r, x in zip(todo, pool.map(features, [str(root / r.path) for r in todo],
                                           chunksize=8), strict=True):
                have[r.clip_id] = x
        ids = sorted(have)
        np.savez(cache, ids=np.array(ids), x=np.stack([have[i] for i in ids]))
    return np.stack([have[c] for c in df.clip_id])


def scores(xtr, ytr_g, ytr_m, xte, yte_g, yte_m, genres) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def model():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))

    g = model().fit(xtr, ytr_g)
    proba = g.predict_proba(xte)
    onehot = (yte_g[:, None] == np.array(g.classes_)[None, :]).astype(int)
    keep = onehot.sum(0) > 0
    genre_auc = roc_auc_score(onehot[:, keep], proba[:, keep], average="macro")
    aucs = []
    for k in range(len(MOODS)):
        if len(set(ytr_m[:, k])) < 2 or len(set(yte_m[:, k])) < 2:
            continue
        m = model().fit(xtr, ytr_m[:, k])
        aucs.append(roc_auc_score(yte_m[:, k], m.predict_proba(xte)[:, 1]))
    return float(genre_auc), float(np.mean(aucs))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, default=Path("corpus/full/manifest.csv"))
    p.add_argument("--max-train", type=int, default=800, help="use the first N train clips")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    root = args.manifest.parent
    df = pd.read_csv(args.manifest)
    df = pd.concat([df[df.split == "train"].sort_values("clip_id").head(args.max_train),
                    df[df.split != "train"]])
    t0 = time.perf_counter()
    x = load_features(df, root, root / ".baseline_features.npz", args.workers)
    feat_s = time.perf_counter() - t0
    genres = sorted(df.genre.unique())
    yg = df.genre.to_numpy()
    ym = np.array([[m in str(s).split(";") for m in MOODS] for s in df.moods], dtype=int)
    split = df.split.to_numpy()
    tr = split == "train"
    rows = []
    for name in ("test", "val"):
        te = split == name
        if te.sum() >= 20:
            g, m = scores(x[tr], yg[tr], ym[tr], x[te], yg[te], ym[te], genres)
            font = df[te].soundfont.iloc[0]
            rows.append((f"{name} (unseen font {font}, unseen compositions)", int(te.sum()), g, m))
    # in-font reference: compositions held out, fonts shared (5 folds inside train)
    idx = np.flatnonzero(tr)
    folds = np.array_split(np.random.default_rng(0).permutation(idx), 5)
    gs, ms = [], []
    for k in range(5):
        te_i = folds[k]
        tr_i = np.concatenate([f for j, f in enumerate(folds) if j != k])
        g, m = scores(x[tr_i], yg[tr_i], ym[tr_i], x[te_i], yg[te_i], ym[te_i], genres)
        gs.append(g)
        ms.append(m)
    rows.append(("train fonts, held-out compositions (5-fold CV)", len(idx), float(np.mean(gs)),
                 float(np.mean(ms))))
    print(f"baseline: logistic regression on mean MFCC(20)+chroma(12); trained on {int(tr.sum())} "
          f"train clips; {len(genres)} genres, {len(MOODS)} moods; features {feat_s:.0f} s")
    print(f"{'evaluated on':58s} {'clips':>6s} {'genre AUC':>10s} {'mood AUC':>9s}")
    for name, n, g, m in rows:
        print(f"{name:58s} {n:6d} {g:10.3f} {m:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
