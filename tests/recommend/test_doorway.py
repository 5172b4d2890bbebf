"""The first hour: histories named by artist and title, the second weekly run, honest reasons,
readable playlist entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from audiotaste.recommend import Recommender
from audiotaste.recommend.events import normalise_name, read_events
from audiotaste.recommend.explore import Discovery
from audiotaste.recommend.playlist import m3u8_text

NOW = pd.Timestamp("2026-01-01", tz="UTC")


def _catalogue() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 12
    return pd.DataFrame(
        {
            "track_id": [f"h{i:02d}" for i in range(n)],
            "artist": ["Beyoncé", "Sigur Rós", "Café Tacvba"] * 4,
            "title": [f"Song {i}" for i in range(n)],
            "tempo_bpm": rng.uniform(70, 160, n),
            "energy": rng.uniform(0, 1, n),
            "genre.rock": np.tile([0.9, 0.1], n // 2),
            "genre.jazz": np.tile([0.1, 0.9], n // 2),
        }
    )


def test_a_csv_named_by_artist_and_title_is_matched_with_accents_and_feat(tmp_path: Path) -> None:
    p = tmp_path / "scrobbles.csv"
    pd.DataFrame(
        {
            "Artist": ["BEYONCE feat. Jay-Z", "sigur ros", "Cafe Tacvba", "Nobody Known"],
            "Title": ["Song 0 (feat. Jay-Z)", "Song 1!", "song 2 [ft. X]", "Song 0"],
            "Date": ["2025-12-01T10:00:00Z"] * 4,
        }
    ).to_csv(p, index=False)
    ev = read_events(p, now=NOW)
    # no listener column: the file's stem; no ms_played: a scrobble counts as a listen
    assert set(ev["user_id"]) == {"scrobbles"} and len(ev) == 4
    rec = Recommender(factors=4, iterations=2).fit(ev, _catalogue())
    assert rec.match_report_ is not None
    assert rec.match_report_.matched == {"artist_title": 3} and rec.match_report_.unmatched == 1
    assert rec.plays_[0].indices.tolist() == [0, 1, 2]
    assert normalise_name("Beyoncé feat. JAY-Z") == normalise_name("beyonce")


def test_the_readme_example_runs_on_the_sample_history() -> None:
    root = Path(__file__).resolve().parents[2]
    tracks = pd.read_csv(root / "sample_audio" / "tracks.csv").rename(columns={"file": "path"})
    events = read_events(root / "sample_audio" / "history.csv")
    rec = Recommender().fit(events, tracks)
    known = events["track_id"].isin(set(tracks["track_id"])).sum()
    assert len(rec.user_ids_) == 4 and rec.fit_report_.rows_kept == known > 0
    assert len(rec.recommend("u01", n=3)) >= 1


def _weekly(tracks: pd.DataFrame) -> tuple[Recommender, pd.DataFrame]:
    """Listener ``u`` finished a jazz track (h01) and skipped a rock one (h00) at once."""
    ev = pd.DataFrame(
        {
            "user_id": "u",
            "track_id": ["h00", "h01"],
            "timestamp": pd.to_datetime(["2025-12-01", "2025-12-02"], utc=True),
            "ms_played": [3_000, 200_000],
        }
    )
    return Recommender(factors=4, iterations=2).fit(ev, tracks), ev


def test_a_second_weekly_playlist_on_a_small_catalogue_is_full(tmp_path: Path) -> None:
    tracks = _catalogue()
    rec, _ = _weekly(tracks)
    disc = Discovery(rec, 8, tracks=tracks, random_state=0)
    first = disc.playlist("u")
    assert len(first) == 8
    disc.save(tmp_path / "state.json")
    again = Discovery.load(tmp_path / "state.json", rec, tracks=tracks).playlist("u")
    # 10 unheard tracks, 8 shown last week: without repeats the playlist would have 2
    assert len(again) == 8 and not set(again.track_id) & {"h00", "h01"}
    assert any(n.startswith("repeats:") for n in again.attrs["unmet"])
    # the two never offered come first; six of last week's fill the rest
    assert set(again.track_id) >= set(tracks.track_id[2:]) - set(first.track_id)


def test_a_negative_score_is_never_a_taste_the_listener_favours() -> None:
    tracks = _catalogue()
    rec, _ = _weekly(tracks)
    out = rec.recommend("u", n=10)
    assert (out["score"] < 0).sum() >= 3  # the rock tracks, like the one skipped
    for score, reason in zip(out["score"], out["reason"], strict=True):
        if score < 0:
            assert "which you favour" not in reason and "weak match" in reason


def test_m3u8_names_untagged_files_artist_dash_title() -> None:
    frame = pd.DataFrame(
        {
            "track_id": ["113271a454402775"],
            "path": ["sample_audio/the_velvet_quartet-blue_hour_walk.ogg"],
            "artist": [""],
            "title": [None],
            "duration_s": [15.2],
        }
    )
    assert m3u8_text(frame).splitlines()[1] == "#EXTINF:15,The Velvet Quartet - Blue Hour Walk"


def test_top_artists_of_untagged_files_come_from_their_file_names() -> None:
    from audiotaste.recommend import TasteProfile

    tracks = pd.DataFrame(
        {
            "track_id": ["a", "b"],
            "path": ["x/the_velvet_quartet-blue_hour_walk.ogg", "x/drift_atlas-slow_tide.ogg"],
            "artist": [None, ""],
            "tempo_bpm": [100.0, 70.0],
        }
    )
    ev = pd.DataFrame(
        {
            "user_id": "u",
            "track_id": ["a", "a", "b"],
            "timestamp": pd.to_datetime(["2025-12-01", "2025-12-02", "2025-12-03"], utc=True),
            "ms_played": [200_000, 200_000, 200_000],
        }
    )
    top = TasteProfile.from_events(ev, tracks, user_id="u").to_dict()["top_artists"]
    assert list(top) == ["The Velvet Quartet", "Drift Atlas"]
