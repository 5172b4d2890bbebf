"""Scale benchmark of the recommender, in resumable stages with the data cached outside the repo.

``python scripts/bench_scale.py data``  make the synthetic log (``bench_recommend.synthetic``) once and
  cache it as Parquet under ``--cache`` (default ``/work/data/scale``).
``python scripts/bench_scale.py fit``   time ``Recommender().fit(events, tracks)`` (wall, CPU, peak
  RSS, load average) and save the model to the cache.
``python scripts/bench_scale.py recommend``  load the saved model, build the ANN index (timed, size
  on disk), then time ``recommend(u, 50)`` for ``--queries`` listeners and measure recall@50 of its
  list against exact search of the same score (seen tracks excluded from both).
``python scripts/bench_scale.py ann``  recall/latency of the ANN index alone over a grid of settings.

Every stage prints a table row; the defaults are the issue's target (100k users, 10M events, 1M
tracks).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from audiotaste.recommend import Recommender  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def load_line() -> str:
    la = os.getloadavg()
    return f"load average {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f} on {os.cpu_count()} cores"


def tag(args: argparse.Namespace) -> str:
    return f"u{args.users}_e{args.events}_t{args.tracks}"


def paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    d = Path(args.cache) / tag(args)
    return d / "events.parquet", d / "tracks.parquet", d / "model"


def data(args: argparse.Namespace) -> None:
    from bench_recommend import synthetic

    ev_p, tr_p, _ = paths(args)
    ev_p.parent.mkdir(parents=True, exist_ok=True)
    t = time.time()
    events, tracks = synthetic(args.users, args.events, args.tracks)
    events.to_parquet(ev_p)
    tracks.to_parquet(tr_p)
    print(
        f"data: {len(events):,} events, {len(tracks):,} tracks in {time.time() - t:.1f}s -> {ev_p.parent}"
    )


def fit(args: argparse.Namespace) -> None:
    ev_p, tr_p, model = paths(args)
    events = pd.read_parquet(ev_p)
    tracks = pd.read_parquet(tr_p)
    print(f"read: rss {rss_mb():,.0f} MB; {load_line()}", flush=True)
    t, c = time.time(), time.process_time()
    rec = Recommender().fit(events, tracks)
    wall, cpu = time.time() - t, time.process_time() - c
    print(
        f"fit: {wall:.1f}s wall, {cpu:.1f}s CPU (all threads); peak rss {peak_rss_mb():,.0f} MB; "
        f"{load_line()}",
        flush=True,
    )
    if args.save:
        rec.save(model)
        print(f"saved {model}")


def recommend(args: argparse.Namespace) -> None:
    _, _, model = paths(args)
    rec = Recommender.load(model)
    rec.ann_min_tracks = args.ann_min_tracks
    for kv in args.set or []:
        k, v = kv.split("=")
        setattr(rec, k, type(getattr(rec, k))(v))
    base = rss_mb()
    print(f"loaded model: rss {base:,.0f} MB; {load_line()}", flush=True)
    rng = np.random.default_rng(1)
    users = rec.user_ids_[rng.choice(len(rec.user_ids_), args.queries, replace=False)]
    t, c = time.time(), time.process_time()
    rec.build_index()
    print(
        f"index build: {time.time() - t:.1f}s wall, {time.process_time() - c:.1f}s CPU; "
        f"index {rec.index_bytes() / 2**20:,.0f} MB; rss {rss_mb():,.0f} MB (+{rss_mb() - base:,.0f}); "
        f"{load_line()}",
        flush=True,
    )
    rec.recommend(users[0], 50)  # first call: lazy imports
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
    print(
        f"recommend n=50 over {len(rec.track_ids_):,} tracks, {args.queries} users: "
        f"p50 {1000 * np.median(lat):.2f} ms, p95 {1000 * np.percentile(lat, 95):.2f} ms; "
        f"exact p50 {1000 * np.median(lat_exact):.1f} ms; recall@50 {np.mean(recall):.4f} "
        f"(min {np.min(recall):.2f}, under 0.9: {int(np.sum(np.array(recall) < 0.9))}); "
        f"peak rss {peak_rss_mb():,.0f} MB; {load_line()}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["data", "fit", "recommend"])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--tracks", type=int, default=1_000_000)
    ap.add_argument("--cache", default="/work/data/scale")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--ann-min-tracks", type=int, default=200_000)
    ap.add_argument("--no-save", dest="save", action="store_false")
    ap.add_argument("--set", action="append", help="NAME=VALUE of a Recommender attribute")
    args = ap.parse_args()
    {"data": data, "fit": fit, "recommend": recommend}[args.cmd](args)


if __name__ == "__main__":
    main()
