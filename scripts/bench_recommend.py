"""Benchmark the recommender on the simulator, beside its anchors, in one run; prints tables.

Worlds: ``python scripts/bench_recommend.py worlds [--set held-out|tuning|all]``
  every model on every world of :mod:`audiotaste.recommend.worlds` (held-out by default: constants
  were chosen on the tuning set only): random, popularity, content cosine (to the mean of a
  listener's full plays), content + artist popularity (z-scored sum), LightFM hybrid and LightFM
  hybrid + artist features (WARP, in /work/venvs/lightfm from scripts/make_lightfm_venv.sh),
  implicit ALS, the oracle (the world's hidden utility), audiotaste with the old fixed blend, and
  audiotaste. Cold NDCG@10 (all, debut artists), warm NDCG@10 (unplayed tracks), cold coverage and
  novelty, the debut share of top-10 cold slots beside that of relevant cold plays, and the bars.

Quality: ``python scripts/bench_recommend.py quality [--users 1000 --tracks 5000]``
  audiotaste's hybrid vs random, popularity, artist popularity, the plain content baseline (cosine to
  the mean content vector of a listener's full plays), implicit ALS, and LightFM's hybrid (WARP with
  item features, run by ``--lightfm-python``, a separate interpreter with lightfm 1.17) — on warm
  tracks, on all cold tracks, and on the two cold slices: new releases by known artists and debut
  artists. Recall@10/50, NDCG@10, coverage, diversity, novelty.
Scale: ``python scripts/bench_recommend.py scale [--users 100000 --events 10000000 --tracks 1000000]``
  fit time and peak memory on synthetic logs, recommend latency (p50/p95) with the ANN index over
  the catalogue, ANN recall@50 against exact search, and a reference timing (one dense matmul) to
  read the numbers on a loaded machine. ``scripts/bench_scale.py`` runs the same in cached,
  resumable stages (the data and the fitted model are kept between runs) and reports CPU time.
ANN settings: ``python scripts/bench_recommend.py ann [--tracks 100000]``
  voyager recall@50 against exact search for two graph settings and three query settings (the
  IVF index's settings: ``bench_scale.py recommend --probes``).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from audiotaste.recommend import Recommender  # noqa: E402
from audiotaste.recommend.collaborative import als, confidence  # noqa: E402
from audiotaste.recommend.evaluate import (  # noqa: E402
    SliceResult,
    evaluate_slice,
    relevant_by_index,
    time_split,
)
from audiotaste.recommend.simulate import simulate  # noqa: E402

LIGHTFM_SCRIPT = r"""
import sys, numpy as np, scipy.sparse as sp
from lightfm import LightFM
d = np.load(sys.argv[1])
inter = sp.coo_matrix((d["v"], (d["r"], d["c"])), shape=tuple(d["shape"]))
feat = sp.hstack([sp.identity(d["shape"][1], format="csr"), sp.csr_matrix(d["x"])]).tocsr()
m = LightFM(no_components=int(d["k"]), loss="warp", random_state=0, learning_rate=0.05)
m.fit(inter, item_features=feat, epochs=int(d["epochs"]), num_threads=2)
users = d["users"]
n_items = d["shape"][1]
out = np.zeros((len(users), n_items), np.float32)
for r, u in enumerate(users):
    out[r] = m.predict(int(u), np.arange(n_items), item_features=feat, num_threads=2)
np.save(sys.argv[2], out)
"""


def quality(args: argparse.Namespace) -> None:
    t0 = time.time()
    sim = simulate(
        n_users=args.users,
        n_tracks=args.tracks,
        n_artists=args.tracks // 12,
        random_state=args.seed,
    )
    train, test = time_split(sim.events, sim.split)
    tracks = sim.tracks.drop(columns=["release", "debut"])
    print(
        f"simulated {len(sim.events):,} events, {args.users} users, {args.tracks} tracks in {time.time() - t0:.1f}s"
    )

    t = time.time()
    rec = Recommender(random_state=args.seed).fit(train, tracks)
    fit_s = time.time() - t
    uidx = pd.Index(rec.user_ids_)
    tidx = pd.Index(rec.track_ids_)
    relevant = relevant_by_index(test, tracks, rec.user_ids_, rec.track_ids_)
    seen = {u: set(rec.plays_[u].indices.tolist()) for u in relevant}
    users = sorted(relevant)

    is_cold = tidx.isin(sim.tracks.loc[sim.tracks["release"] >= sim.split, "track_id"])
    debut = sim.tracks.set_index("track_id").loc[rec.track_ids_, "debut"].to_numpy()
    slices = {
        "warm (unplayed by the user)": np.flatnonzero(~is_cold),
        "cold: all": np.flatnonzero(is_cold),
        "cold: new release, known artist": np.flatnonzero(is_cold & ~debut),
        "cold: debut artist": np.flatnonzero(is_cold & debut),
    }
    all_pop = (
        sim.events.groupby("track_id")["user_id"]
        .nunique()
        .reindex(rec.track_ids_)
        .fillna(0)
        .to_numpy()
    )
    train_pop = rec.listens_.astype(np.float64)
    artist_pop = np.bincount(rec.artist_code_, weights=train_pop)[rec.artist_code_]
    rng = np.random.default_rng(args.seed)
    jitter = rng.random(len(tidx)) * 1e-6  # breaks ties (all cold tracks have 0 listens) at random

    # Plain content baseline: cosine to the mean content vector of each user's full plays.
    dur = train["track_id"].map(tracks.set_index("track_id")["duration_s"]).to_numpy(float)
    full = train[(train["ms_played"] / (dur * 1000)) >= 0.9]
    fm = sp.csr_matrix(
        (
            np.ones(len(full)),
            (uidx.get_indexer(full["user_id"]), tidx.get_indexer(full["track_id"])),
        ),
        shape=(len(uidx), len(tidx)),
    )
    mean_vec = np.asarray(fm @ rec.X_)
    mean_vec /= np.maximum(np.linalg.norm(mean_vec, axis=1, keepdims=True), 1e-9)

    t = time.time()
    au, ai = als(
        confidence(rec.evidence_, rec.alpha),
        factors=64,
        regularization=0.05,
        iterations=15,
        random_state=0,
    )
    als_s = time.time() - t

    scorers = {
        "random": lambda u, i: rng.random((len(u), len(i))),
        "popularity": lambda u, i: np.broadcast_to(train_pop[i] + jitter[i], (len(u), len(i))),
        "artist popularity": lambda u, i: np.broadcast_to(
            artist_pop[i] + jitter[i], (len(u), len(i))
        ),
        "content (mean of full plays)": lambda u, i: mean_vec[u] @ rec.X_[i].T,
        "implicit ALS": lambda u, i: au[u] @ ai[i].T + jitter[i],
        "audiotaste hybrid": lambda u, i: rec._score(u, i),
    }
    lfm_s = None
    if args.lightfm_python:
        t = time.time()
        lfm = lightfm_scores(args, rec, train, users)
        lfm_s = time.time() - t
        if lfm is not None:
            row = {u: r for r, u in enumerate(users)}
            scorers["LightFM WARP + item features"] = lambda u, i: lfm[[row[x] for x in u]][:, i]

    results: list[SliceResult] = []
    for sname, cands in slices.items():
        for mname, f in scorers.items():
            results.append(
                evaluate_slice(
                    f,
                    model=mname,
                    slice_name=sname,
                    users=users,
                    candidates=cands,
                    relevant=relevant,
                    seen=seen if sname.startswith("warm") else None,
                    features=rec.X_,
                    popularity=all_pop,
                    n_users_total=len(uidx),
                )
            )
    df = pd.DataFrame([r.to_dict() for r in results])
    pd.set_option("display.width", 200)
    for sname, g in df.groupby("slice", sort=False):
        print(
            f"\n### {sname} ({g['users'].iloc[0]} users with relevant tracks, {len(slices[sname])} tracks)"
        )
        print(g.drop(columns=["slice", "users"]).round(4).to_string(index=False))
    # Does the hybrid bury debut artists when both kinds of cold compete in one list?
    cold = slices["cold: all"]
    s = rec._score(np.asarray(users), cold)
    top = cold[np.argsort(-s, axis=1)[:, :10]]
    rel_debut = np.mean([debut[i] for u in users for i in relevant[u] if is_cold[i]])
    print(
        f"\ndebut-artist share: of cold relevant {rel_debut:.3f}; of the hybrid's cold top-10 {debut[top].mean():.3f}"
    )
    print(
        f"fit: hybrid {fit_s:.1f}s, implicit ALS alone {als_s:.1f}s"
        + (f", LightFM {lfm_s:.1f}s" if lfm_s else "")
    )

    def ratio(a: str, b: str, sl: str) -> float:
        ndcg = df.set_index(["model", "slice"])["ndcg_10"]
        return float(ndcg[(a, sl)] / max(ndcg[(b, sl)], 1e-12))

    for sl in slices:
        print(
            f"NDCG@10 ratio on {sl}: vs content {ratio('audiotaste hybrid', 'content (mean of full plays)', sl):.2f}, "
            f"vs ALS {ratio('audiotaste hybrid', 'implicit ALS', sl):.2f}"
            + (
                f", vs LightFM {ratio('audiotaste hybrid', 'LightFM WARP + item features', sl):.2f}"
                if "LightFM WARP + item features" in scorers
                else ""
            )
        )
    if args.json:
        Path(args.json).write_text(df.to_json(orient="records", indent=1))


def lightfm_scores(
    args: argparse.Namespace, rec: Recommender, train: pd.DataFrame, users: list[int]
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
            k=64,
            epochs=args.lightfm_epochs,
        )
        Path(f"{tmp}/run.py").write_text(LIGHTFM_SCRIPT)
        r = subprocess.run(
            [args.lightfm_python, f"{tmp}/run.py", f"{tmp}/in.npz", f"{tmp}/out.npy"],
            capture_output=True,
            text=True,
        )
        if r.returncode:
            print("LightFM failed:", r.stderr[-2000:])
            return None
        return np.load(f"{tmp}/out.npy")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--users", type=int, default=1000)
    q.add_argument("--tracks", type=int, default=5000)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument(
        "--lightfm-python",
        default="/work/benchenv/bin/python" if Path("/work/benchenv/bin/python").exists() else "",
    )
    q.add_argument("--lightfm-epochs", type=int, default=30)
    q.add_argument("--json", default="")
    s = sub.add_parser("scale")
    s.add_argument("--users", type=int, default=100_000)
    s.add_argument("--events", type=int, default=10_000_000)
    s.add_argument("--tracks", type=int, default=1_000_000)
    s.add_argument("--queries", type=int, default=300)
    s.add_argument("--query-ef", type=int, default=800)
    s.add_argument("--ann-min-tracks", type=int, default=200_000)
    w = sub.add_parser("worlds")
    w.add_argument("--set", choices=("tuning", "held-out", "all"), default="held-out")
    w.add_argument(
        "--lightfm-python",
        default="/work/venvs/lightfm/bin/python" if Path("/work/venvs/lightfm/bin/python").exists() else "",
        help="interpreter with lightfm 1.17 (scripts/make_lightfm_venv.sh); empty: no LightFM",
    )
    w.add_argument("--lightfm-epochs", type=int, default=30)
    w.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="redraw each world with this many seeds (its own, +1000, ...) and report the means: "
        "one seed's debut ratio moves by +-0.2-0.3",
    )
    w.add_argument("--json", default="")
    a = sub.add_parser("ann")
    a.add_argument("--users", type=int, default=20_000)
    a.add_argument("--events", type=int, default=1_000_000)
    a.add_argument("--tracks", type=int, default=100_000)
    a.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    if args.cmd == "worlds":
        from _bench_worlds import worlds  # beside this file

        worlds(args)
        return
    {"quality": quality, "scale": scale, "ann": ann}[args.cmd](args)


def synthetic(
    n_users: int, n_events: int, n_tracks: int, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A large log with Zipf-like track popularity and taste clusters, made fast with numpy."""
    rng = np.random.default_rng(seed)
    n_genres = 8
    track_genre = rng.integers(0, n_genres, n_tracks)
    user_genre = rng.integers(0, n_genres, n_users)
    by_genre = [np.flatnonzero(track_genre == g) for g in range(n_genres)]
    u = rng.integers(0, n_users, n_events)
    own = rng.random(n_events) < 0.7  # 70 % of plays from the listener's genre
    rank = np.minimum((rng.pareto(1.2, n_events) * 50).astype(np.int64), n_tracks - 1)
    item = rank.copy()
    for g in range(n_genres):
        m = own & (user_genre[u] == g)
        item[m] = by_genre[g][rank[m] % len(by_genre[g])]
    ts = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 90 * 86400, n_events), unit="s"
    )
    uid = np.char.add("u", np.arange(n_users).astype(str))
    tid = np.char.add("t", np.arange(n_tracks).astype(str))
    events = pd.DataFrame(
        {
            "user_id": pd.array(uid[u], dtype="str"),
            "track_id": pd.array(tid[item], dtype="str"),
            "timestamp": ts,
            "ms_played": rng.integers(1_000, 300_000, n_events),
        }
    )
    onehot = (
        np.eye(n_genres, dtype=np.float32)[track_genre] * 0.8
        + rng.random((n_tracks, n_genres), np.float32) * 0.2
    )
    tracks = pd.DataFrame(
        {"track_id": tid, "artist_id": np.char.add("a", (np.arange(n_tracks) // 10).astype(str))}
    )
    tracks = pd.concat(
        [
            tracks,
            pd.DataFrame(onehot, columns=[f"genre.g{g}" for g in range(n_genres)]),
            pd.DataFrame(
                rng.normal(size=(n_tracks, 16)).astype(np.float32),
                columns=[f"emb_{j}" for j in range(16)],
            ),
            pd.DataFrame(
                {
                    "tempo_bpm": rng.uniform(60, 180, n_tracks),
                    "energy": rng.random(n_tracks),
                    "duration_s": 240.0,
                }
            ),
        ],
        axis=1,
    )
    return events, tracks


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reference_s() -> float:
    """Median of 5 timings of a fixed float32 matmul (2048^3): a yardstick for a loaded machine."""
    a = np.random.default_rng(0).random((2048, 2048), np.float32)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def scale(args: argparse.Namespace) -> None:
    ref0 = reference_s()
    t = time.time()
    events, tracks = synthetic(args.users, args.events, args.tracks)
    print(
        f"synthetic: {len(events):,} events, {args.users:,} users, {args.tracks:,} tracks in {time.time() - t:.1f}s; "
        f"rss {peak_rss_mb():,.0f} MB"
    )
    t, c = time.time(), time.process_time()
    rec = Recommender(ann_min_tracks=args.ann_min_tracks, query_ef=args.query_ef)
    rec.fit(events, tracks)
    print(
        f"fit: {time.time() - t:.1f}s wall, {time.process_time() - c:.1f}s CPU (all threads); "
        f"peak rss {peak_rss_mb():,.0f} MB"
    )
    del events
    rng = np.random.default_rng(1)
    users = rec.user_ids_[rng.choice(len(rec.user_ids_), args.queries, replace=False)]
    t, c = time.time(), time.process_time()
    rec.recommend(users[0], 10)  # builds the index
    print(
        f"ANN index build ({rec.ann}): {time.time() - t:.1f}s wall, {time.process_time() - c:.1f}s CPU; "
        f"peak rss {peak_rss_mb():,.0f} MB"
    )
    lat, lat_exact, recall = [], [], []
    for u in users:
        t = time.perf_counter()
        got = rec.recommend(u, 50)
        lat.append(time.perf_counter() - t)
        t = time.perf_counter()
        row = rec.score([u])[0]
        row[rec.plays_[rec._user_index([u])[0]].indices] = -np.inf
        exact = rec.track_ids_[np.argpartition(-row, 50)[:50]]
        lat_exact.append(time.perf_counter() - t)
        recall.append(len(set(got.track_id) & set(exact)) / 50)
    ref1 = reference_s()
    print(
        f"recommend n=50 over {len(rec.track_ids_):,} tracks ({args.queries} users): p50 {1000 * np.median(lat):.2f} ms, "
        f"p95 {1000 * np.percentile(lat, 95):.2f} ms; exact search p50 {1000 * np.median(lat_exact):.1f} ms; "
        f"ANN recall@50 vs exact {np.mean(recall):.3f} (min {np.min(recall):.2f}); query_ef {rec.query_ef}"
    )
    print(
        f"reference 2048^3 float32 matmul: {1000 * ref0:.0f} ms before, {1000 * ref1:.0f} ms after; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; peak rss {peak_rss_mb():,.0f} MB"
    )


def ann(args: argparse.Namespace) -> None:
    """Recall@50 of voyager against exact search for a few index settings, on one fitted model."""
    from voyager import Index, Space

    events, tracks = synthetic(args.users, args.events, args.tracks)
    rec = Recommender(ann_min_tracks=10**12).fit(events, tracks)
    del events
    users = np.random.default_rng(1).choice(len(rec.user_ids_), args.queries, replace=False)
    # the score's two inner-product halves: [item factors, weighted content, bias] . [user, taste, 1]
    z = np.hstack([rec.item_factors_, rec.Xw_, rec.bias_[:, None]]).astype(np.float32)
    q = np.hstack([rec.user_factors_[users], rec.taste_[users], np.ones((len(users), 1))])
    exact = np.argpartition(-(q @ z.T), 50, axis=1)[:, :50]
    norms = np.linalg.norm(z, axis=1)
    data = np.hstack([z, np.sqrt(norms.max() ** 2 - norms**2)[:, None]]).astype(np.float32)
    q = np.hstack([q, np.zeros((len(q), 1))]).astype(np.float32)
    for m, efc in ((16, 100), (32, 200)):
        t = time.time()
        index = Index(Space.Euclidean, num_dimensions=data.shape[1], M=m, ef_construction=efc)
        index.add_items(data, ids=np.arange(len(data)), num_threads=-1)
        print(f"M {m}, ef_construction {efc}: build {time.time() - t:.1f}s", flush=True)
        for k, ef in ((50, 200), (50, 800), (500, 600)):
            recall, lat = [], []
            for r in range(len(q)):
                t = time.perf_counter()
                ids, _ = index.query(q[r], k=k, query_ef=ef)
                ids = ids[np.argsort(-(z[ids] @ q[r, :-1]))[:50]]
                lat.append(time.perf_counter() - t)
                recall.append(len(set(ids.tolist()) & set(exact[r].tolist())) / 50)
            print(
                f"  k {k}, query_ef {ef}: recall@50 {np.mean(recall):.3f} (min {np.min(recall):.2f}, "
                f"users under 0.5: {np.sum(np.array(recall) < 0.5)}), p50 {1000 * np.median(lat):.2f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
