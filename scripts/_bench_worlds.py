"""``bench_recommend.py worlds``: every model on every simulated world, side by side (see that file)."""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from audiotaste.recommend import Recommender
from audiotaste.recommend.evaluate import (
    evaluate_slice,
    relevant_by_index,
    time_split,
)
from audiotaste.recommend.retrieval import fair_top
from audiotaste.recommend.worlds import HELD_OUT, TUNING, WorldConfig, simulate_world

LIGHTFM = r"""
import sys, numpy as np, scipy.sparse as sp
from lightfm import LightFM
d = np.load(sys.argv[1])
n_items = int(d["shape"][1])
inter = sp.coo_matrix((d["v"], (d["r"], d["c"])), shape=tuple(d["shape"]))
blocks = [sp.identity(n_items, format="csr"), sp.csr_matrix(d["x"])]
if int(d["with_artist"]):
    a = d["artist"]
    blocks.append(sp.csr_matrix((np.ones(n_items), (np.arange(n_items), a)), shape=(n_items, a.max() + 1)))
feat = sp.hstack(blocks).tocsr()
m = LightFM(no_components=32, loss="warp", random_state=0, learning_rate=0.05)
m.fit(inter, item_features=feat, epochs=int(d["epochs"]), num_threads=1)
users = d["users"]
out = np.zeros((len(users), n_items), np.float32)
for r, u in enumerate(users):
    out[r] = m.predict(int(u), np.arange(n_items), item_features=feat, num_threads=1)
np.save(sys.argv[2], out)
"""


def _lightfm(
    python: str, rec: Recommender, users: list[int], with_artist: bool, epochs: int
) -> np.ndarray | None:
    pos = rec.evidence_.copy()
    pos.data = (pos.data > 0).astype(np.float32)
    pos.eliminate_zeros()
    coo = pos.tocoo()
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(
            f"{tmp}/in.npz",
            r=coo.row,
            c=coo.col,
            v=coo.data,
            shape=np.array(pos.shape),
            x=rec.X_,
            users=np.asarray(users),
            artist=np.maximum(rec.artist_code_, 0),
            with_artist=int(with_artist),
            epochs=epochs,
        )
        Path(f"{tmp}/run.py").write_text(LIGHTFM)
        r = subprocess.run(
            [python, f"{tmp}/run.py", f"{tmp}/in.npz", f"{tmp}/out.npy"],
            capture_output=True,
            text=True,
        )
        if r.returncode:
            print("LightFM failed:", r.stderr[-1500:])
            return None
        return np.load(f"{tmp}/out.npy")


def served(rec: Recommender) -> Any:
    """Scores that order each listener's candidates as ``recommend`` serves them (exposure shared
    between warm, known-artist and debut tracks, :func:`~audiotaste.recommend.retrieval.fair_top`)."""

    def f(u: np.ndarray, i: np.ndarray) -> np.ndarray:
        s = rec._score(u, i)
        out = s - 1e6
        for r in range(len(u)):
            top = fair_top(s[r], rec.kind_[i], 50, rec.kind_share_)
            out[r, top] = 1e6 - np.arange(len(top))
        return out

    return f


def full_play_taste(train: pd.DataFrame, tracks: pd.DataFrame, uidx: pd.Index, tidx: pd.Index,
                    X: np.ndarray) -> np.ndarray:
    """The content-cosine anchor's taste: each listener's mean content vector over full plays
    (>= 90 % of the track), unit length [n_users, n_dims]."""
    dur = train["track_id"].map(tracks.set_index("track_id")["duration_s"]).to_numpy(float)
    full = train[(train["ms_played"] / (dur * 1000)) >= 0.9]
    rows, cols = uidx.get_indexer(full["user_id"]), tidx.get_indexer(full["track_id"])
    fm = sp.csr_matrix((np.ones(len(full)), (rows, cols)), shape=(len(uidx), len(tidx)))
    mean_vec = np.asarray(fm @ X)
    return mean_vec / np.maximum(np.linalg.norm(mean_vec, axis=1, keepdims=True), 1e-9)


def _zscore(s: np.ndarray) -> np.ndarray:
    return (s - s.mean(1, keepdims=True)) / np.maximum(s.std(1, keepdims=True), 1e-9)


def run_world(cfg: WorldConfig, lightfm_python: str | None, epochs: int) -> list[dict[str, Any]]:
    sim = simulate_world(cfg)
    train, test = time_split(sim.events, sim.split)
    tracks = sim.tracks.drop(columns=["release", "debut"])
    t = time.time()
    rec = Recommender().fit(train, tracks)
    fit_s = time.time() - t
    fixed = Recommender(blend="fixed").fit(train, tracks)
    uidx, tidx = pd.Index(rec.user_ids_), pd.Index(rec.track_ids_)
    relevant = relevant_by_index(test, tracks, rec.user_ids_, rec.track_ids_)
    users = sorted(relevant)
    seen = {u: set(rec.plays_[u].indices.tolist()) for u in users}
    meta = sim.tracks.set_index("track_id").loc[rec.track_ids_]
    cold = (meta["release"] >= sim.split).to_numpy()
    debut = meta["debut"].to_numpy(bool)
    slices = {
        "cold": np.flatnonzero(cold),
        "debut": np.flatnonzero(cold & debut),
        "warm": np.flatnonzero(~cold),
    }
    rng = np.random.default_rng(cfg.seed)
    jitter = rng.random(len(tidx)) * 1e-6
    pop = rec.listens_.astype(float)
    all_pop = (
        sim.events.groupby("track_id")["user_id"]
        .nunique()
        .reindex(rec.track_ids_)
        .fillna(0)
        .to_numpy()
    )
    art_pop = np.log1p(
        np.bincount(np.maximum(rec.artist_code_, 0), weights=pop)[np.maximum(rec.artist_code_, 0)]
    )
    mean_vec = full_play_taste(train, tracks, uidx, tidx, rec.X_)
    user_rows = np.asarray(pd.Index(sim.users["user_id"]).get_indexer(rec.user_ids_))
    utility = sim.utility[user_rows][
        :, pd.Index(sim.tracks["track_id"]).get_indexer(rec.track_ids_)
    ]
    au, ai = rec.user_factors_, rec.item_cf_
    scorers: dict[str, Any] = {
        "random": lambda u, i: rng.random((len(u), len(i))),
        "popularity": lambda u, i: np.broadcast_to(pop[i] + jitter[i], (len(u), len(i))),
        "content cosine": lambda u, i: mean_vec[u] @ rec.X_[i].T,
        "content + artist popularity": lambda u, i: (
            _zscore(mean_vec[u] @ rec.X_[i].T)
            + (art_pop[i] - art_pop[i].mean()) / max(art_pop[i].std(), 1e-9)
        ),
        "implicit ALS": lambda u, i: au[u] @ ai[i].T + jitter[i],
    }
    if lightfm_python:
        row = {u: r for r, u in enumerate(users)}
        for name, with_artist in (("LightFM hybrid", False), ("LightFM hybrid + artist", True)):
            lfm = _lightfm(lightfm_python, rec, users, with_artist, epochs)
            if lfm is not None:
                scorers[name] = lambda u, i, lfm=lfm: lfm[[row[x] for x in u]][:, i]
    scorers["oracle"] = lambda u, i: utility[u][:, i]
    scorers["audiotaste (fixed blend)"] = lambda u, i: fixed._score(u, i)
    scorers["audiotaste (raw scores)"] = lambda u, i: rec._score(u, i)
    scorers["audiotaste"] = served(rec)
    rows = []
    rel_cold = [i for u in users for i in relevant[u] if cold[i]]
    for name, f in scorers.items():
        out: dict[str, Any] = {"world": cfg.name, "model": name}
        for sname, cands in slices.items():
            r = evaluate_slice(
                f,
                model=name,
                slice_name=sname,
                users=users,
                candidates=cands,
                relevant=relevant,
                seen=seen if sname == "warm" else None,
                features=rec.X_,
                popularity=all_pop,
                n_users_total=len(uidx),
            )
            out[f"{sname} ndcg@10"] = r.ndcg_10
            if sname == "cold":
                out["cold coverage"], out["cold novelty"] = r.coverage, r.novelty
        cu = [u for u in users if relevant[u] & set(slices["cold"].tolist())]
        s = np.asarray(f(np.asarray(cu), slices["cold"]), float)
        top = slices["cold"][np.argsort(-s, axis=1, kind="stable")[:, :10]]
        out["debut share top-10"] = float(debut[top].mean())
        out["debut share relevant"] = float(debut[rel_cold].mean()) if rel_cold else float("nan")
        rows.append(out)
    print(f"  {cfg.name}: fit {fit_s:.1f}s, blend {rec.blend_report_.get('blend')}", flush=True)
    return rows


def worlds(args: Any) -> pd.DataFrame:
    chosen = {"tuning": TUNING, "held-out": HELD_OUT, "all": TUNING + HELD_OUT}[args.set]
    rows = []
    for cfg in chosen:
        for k in range(getattr(args, "seeds", 1)):
            drawn = dataclasses.replace(cfg, seed=cfg.seed + 1000 * k)
            rows += [
                r | {"seed": drawn.seed}
                for r in run_world(drawn, args.lightfm_python, args.lightfm_epochs)
            ]
    every = pd.DataFrame(rows)
    if args.json:
        every.to_json(args.json, orient="records", indent=1)
    # one row per world and model: the mean over the seeds
    df = every.drop(columns="seed").groupby(["world", "model"], sort=False).mean().reset_index()
    if every["seed"].nunique() > 1:
        print(f"\nmeans over {getattr(args, 'seeds', 1)} seeds per world")
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 20)
    for world, g in df.groupby("world", sort=False):
        print(f"\n### {world}")
        print(g.drop(columns="world").round(4).to_string(index=False))
    print("\n### bars (audiotaste against the anchors, per world)")
    for world, g in df.groupby("world", sort=False):
        m = g.set_index("model")
        anchors = [x for x in m.index if x != "oracle" and not x.startswith("audiotaste")]
        best = m.loc[anchors, "cold ndcg@10"].max()
        lfm = [x for x in m.index if x.startswith("LightFM")]
        at = m.loc["audiotaste"]
        print(
            f"{world}: cold {at['cold ndcg@10'] / best:.2f}x best anchor ({m.loc[anchors, 'cold ndcg@10'].idxmax()}); "
            f"debut {at['debut ndcg@10'] / m.loc['content cosine', 'debut ndcg@10']:.2f}x cosine"
            + (
                f", {at['debut ndcg@10'] / m.loc[lfm, 'debut ndcg@10'].max():.2f}x best LightFM"
                if lfm
                else ""
            )
            + f"; warm {at['warm ndcg@10'] / m.loc['implicit ALS', 'warm ndcg@10']:.2f}x ALS"
        )
    return df
