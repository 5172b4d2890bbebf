"""audiotaste inside a data pipeline: Parquet catalogue + events in, recommendations for everyone out.

    python examples/pipeline.py CATALOGUE.parquet EVENTS.(csv|parquet|json) OUT.parquet [-n 10]

The catalogue comes from `audiotaste export --db catalogue.sqlite tracks.parquet` (or any frame with a
track_id and some content columns: genre.*, mood.*, emb_*, tempo_bpm …); the events from any export
`read_events` understands. Writes one row per (user, rank) with the track, its score and the reason.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from audiotaste.recommend import Recommender
from audiotaste.recommend.events import read_events


def recommend_everyone(tracks: pd.DataFrame, events: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Fit on the whole history and recommend ``n`` tracks to every listener in it."""
    rec = Recommender().fit(events, tracks)
    users = sorted(events["user_id"].astype(str).unique())
    return rec.recommend_many(users, n=n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("catalogue", type=Path)
    parser.add_argument("events", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("-n", type=int, default=10)
    args = parser.parse_args()
    tracks = pd.read_parquet(args.catalogue)
    events = read_events(args.events)
    out = recommend_everyone(tracks, events, n=args.n)
    out.to_parquet(args.out, index=False)
    print(f"{len(out)} recommendations for {out['user_id'].nunique()} listeners -> {args.out}")


if __name__ == "__main__":
    main()
