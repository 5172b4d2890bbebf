"""examples/pipeline.py end to end: Parquet catalogue + CSV events in, Parquet recommendations out."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def test_pipeline_recommends_for_every_user(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    genres = ["jazz", "rock", "ambient"]
    rows = []
    for i in range(60):
        g = genres[i % 3]
        row = {"track_id": f"t{i:02d}", "artist": f"artist {i % 12}", "title": f"song {i}",
               "tempo_bpm": 80 + i, "energy": rng.random()}
        for h in genres:
            row[f"genre.{h}"] = 0.9 if h == g else 0.05
        rows.append(row)
    pd.DataFrame(rows).to_parquet(tmp_path / "tracks.parquet")
    events = []
    for u, g in (("ann", 0), ("bob", 1), ("cy", 2)):
        for k in range(20):
            events.append({"user_id": u, "track_id": f"t{(3 * k + g) % 45:02d}",
                           "timestamp": pd.Timestamp("2026-11-01", tz="UTC") + pd.Timedelta(hours=k),
                           "ms_played": 200_000})
    pd.DataFrame(events).to_csv(tmp_path / "events.csv", index=False)
    out = tmp_path / "recs.parquet"
    subprocess.run([sys.executable, str(ROOT / "examples" / "pipeline.py"), str(tmp_path / "tracks.parquet"),
                    str(tmp_path / "events.csv"), str(out), "-n", "5"], check=True, cwd=tmp_path)
    recs = pd.read_parquet(out)
    assert set(recs["user_id"]) == {"ann", "bob", "cy"}
    assert (recs.groupby("user_id")["rank"].max() == 5).all()
    assert recs["reason"].str.len().min() > 0
    # Each listener only played one genre: their top pick is a track of that genre they have not played.
    tracks = pd.read_parquet(tmp_path / "tracks.parquet").set_index("track_id")
    for user, genre in (("ann", "jazz"), ("bob", "rock"), ("cy", "ambient")):
        top = recs[(recs["user_id"] == user) & (recs["rank"] == 1)]["track_id"].iloc[0]
        assert tracks.loc[top, f"genre.{genre}"] == 0.9
