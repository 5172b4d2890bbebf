"""How far any content taste can take the debut slice: ``python scripts/_bench_debut_ceiling.py
[--set tuning|held-out|all] [--seeds K]``.

For each world and seed, three rankings of the test week's debut-artist tracks, NDCG@10 as
``bench_recommend.py worlds`` scores them:

- ``content cosine``: the anchor, cosine to the mean content of a listener's full plays;
- ``linear ceiling``: each listener's *hidden* utility (the oracle's, which no recommender sees)
  regressed on the content vectors of the warm tracks, then applied to the debut tracks: the best
  any score linear in the content (one taste vector and any metric) could do for that listener;
- ``oracle``: the hidden utility itself.

Where the linear ceiling is below 1.3x content cosine, no content taste vector, however it is
estimated or weighted, reaches the debut bar on that world.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _bench_worlds import full_play_taste  # noqa: E402

from audiotaste.recommend import Recommender  # noqa: E402
from audiotaste.recommend.evaluate import (  # noqa: E402
    evaluate_slice,
    relevant_by_index,
    time_split,
)
from audiotaste.recommend.worlds import HELD_OUT, TUNING, WorldConfig, simulate_world  # noqa: E402


def ceiling(cfg: WorldConfig) -> dict[str, float]:
    sim = simulate_world(cfg)
    train, test = time_split(sim.events, sim.split)
    tracks = sim.tracks.drop(columns=["release", "debut"])
    rec = Recommender(blend="fixed").fit(train, tracks)  # only its content space and indices
    uidx, tidx = pd.Index(rec.user_ids_), pd.Index(rec.track_ids_)
    relevant = relevant_by_index(test, tracks, rec.user_ids_, rec.track_ids_)
    users = sorted(relevant)
    meta = sim.tracks.set_index("track_id").loc[rec.track_ids_]
    cold = (meta["release"] >= sim.split).to_numpy()
    debut = np.flatnonzero(cold & meta["debut"].to_numpy(bool))
    warm = np.flatnonzero(~cold)
    rows = np.asarray(pd.Index(sim.users["user_id"]).get_indexer(rec.user_ids_))
    utility = sim.utility[rows][:, pd.Index(sim.tracks["track_id"]).get_indexer(rec.track_ids_)]
    x1 = np.hstack([rec.X_, np.ones((len(rec.X_), 1), np.float32)]).astype(np.float64)
    a = x1[warm]
    beta = np.linalg.solve(a.T @ a + 1e-2 * np.eye(a.shape[1]), a.T @ utility[:, warm].T)
    linear = (x1 @ beta).T
    mean_vec = full_play_taste(train, tracks, uidx, tidx, rec.X_)
    scorers = {
        "content cosine": lambda u, i: mean_vec[u] @ rec.X_[i].T,
        "linear ceiling": lambda u, i: linear[u][:, i],
        "oracle": lambda u, i: utility[u][:, i],
    }
    out = {}
    for name, f in scorers.items():
        r = evaluate_slice(
            f,
            model=name,
            slice_name="debut",
            users=users,
            candidates=debut,
            relevant=relevant,
            seen=None,
            features=rec.X_,
            popularity=np.zeros(len(tidx)),
            n_users_total=len(uidx),
        )
        out[name] = r.ndcg_10
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", choices=("tuning", "held-out", "all"), default="tuning")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    chosen = {"tuning": TUNING, "held-out": HELD_OUT, "all": TUNING + HELD_OUT}[args.set]
    rows = []
    for cfg in chosen:
        for k in range(args.seeds):
            drawn = dataclasses.replace(cfg, seed=cfg.seed + 1000 * k)
            rows.append({"world": cfg.name, "seed": drawn.seed, **ceiling(drawn)})
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows).drop(columns="seed").groupby("world", sort=False).mean()
    df["ceiling / cosine"] = df["linear ceiling"] / df["content cosine"]
    print(f"\ndebut NDCG@10, means over {args.seeds} seeds")
    print(df.round(4).to_string())


if __name__ == "__main__":
    main()
