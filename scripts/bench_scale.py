"""Scale benchmark of the recommender, in resumable stages with the data cached outside the repo.

``python scripts/bench_scale.py data``  make the synthetic log (``bench_recommend.synthetic``) once and
  cache it as Parquet under ``--cache`` (default ``/work/data/scale``).
``python scripts/bench_scale.py fit``   time ``Recommender().fit(events, tracks)`` (wall, CPU, peak
  RSS, load average) and save the model to the cache.
``python scripts/bench_scale.py recommend``  load the saved model, build the ANN index (timed, its
  memory), then time ``recommend(u, 50)`` (wall and CPU) for ``--queries`` listeners and measure
  recall@50 of its list against exact search of the same score (seen tracks excluded from both);
  ``--probes 16,32,64`` adds the ANN-only recall for other ``n_probe`` values,
  ``--set ann=voyager`` measures voyager instead.

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
    from audiotaste.recommend.recommender import _row

    _, _, model = paths(args)
    rec = Recommender.load(model)
    rec.ann_min_tracks = args.ann_min_tracks
    for kv in args.set or []:
        k, v = kv.split("=")
        setattr(rec, k, type(getattr(rec, k))(v))
    rec._index = None  # always timed here, never read from an earlier run
    base = rss_mb()
    print(f"loaded model: rss {base:,.0f} MB; {load_line()}", flush=True)
    rng = np.random.default_rng(1)
    users = rec.user_ids_[rng.choice(len(rec.user_ids_), args.queries, replace=False)]
    t, c = time.time(), time.process_time()
    rec.build_index()
    print(
        f"index build ({rec.ann}): {time.time() - t:.1f}s wall, {time.process_time() - c:.1f}s CPU; "
        f"index {rec.index_bytes() / 2**20:,.0f} MB; rss {rss_mb():,.0f} MB (+{rss_mb() - base:,.0f}); "
        f"{load_line()}",
        flush=True,
    )
    rec.recommend(users[0], 50)  # first call: lazy imports
    # Latency first, in its own loop: exact search reads the whole catalogue and would evict
    # the caches between timed calls.
    lat, cpu, got = [], [], []
    for u in users:
        t, c = time.perf_counter(), time.thread_time()
        got.append(rec.recommend(u, 50))
        cpu.append(time.thread_time() - c)
        lat.append(time.perf_counter() - t)
    la = load_line()
    ui = rec._user_index(list(users))
    exact = []
    for u in ui:
        row = rec._score(np.array([u]), np.arange(len(rec.track_ids_)))[0]
        row[_row(rec.plays_, u)[0]] = -np.inf
        exact.append(set(np.argpartition(-row, 50)[:50].tolist()))
    pos = rec._positions("track_ids_")
    recall = np.array(
        [
            len(e & set(pos.get_indexer(g.track_id).tolist())) / 50
            for e, g in zip(exact, got, strict=True)
        ]
    )
    print(
        f"recommend(u, 50) over {len(rec.track_ids_):,} tracks, {args.queries} listeners: "
        f"wall p50 {1000 * np.median(lat):.2f} ms, p95 {1000 * np.percentile(lat, 95):.2f} ms; "
        f"CPU p50 {1000 * np.median(cpu):.2f} ms, p95 {1000 * np.percentile(cpu, 95):.2f} ms; "
        f"recall@50 vs exact {recall.mean():.4f} (min {recall.min():.2f}, "
        f"listeners under 0.9: {int((recall < 0.9).sum())}); {la}",
        flush=True,
    )
    for probe in args.probes:
        if not hasattr(rec, "n_probe") or rec.ann != "ivf":
            break
        rec.n_probe = probe
        r, c_ann = [], []
        for e, u in zip(exact, ui, strict=True):
            c = time.thread_time()
            ids, _ = rec._ann(int(u), 50, _row(rec.plays_, u)[0])
            c_ann.append(time.thread_time() - c)
            r.append(len(e & set(ids.tolist())) / 50)
        ra = np.array(r)
        print(
            f"  n_probe {probe}: ANN recall@50 {ra.mean():.4f} (min {ra.min():.2f}, under 0.9: "
            f"{int((ra < 0.9).sum())}); ANN CPU p50 {1000 * np.median(c_ann):.2f} ms",
            flush=True,
        )
    print(f"peak rss {peak_rss_mb():,.0f} MB; {load_line()}")


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
    ap.add_argument(
        "--probes",
        type=lambda v: [int(x) for x in v.split(",") if x],
        default=[],
        help="also ANN-only recall for these n_probe values, e.g. 16,32,64",
    )
    args = ap.parse_args()
    {"data": data, "fit": fit, "recommend": recommend}[args.cmd](args)


if __name__ == "__main__":
    main()
