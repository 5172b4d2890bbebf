"""Bad input gets sensible results with the reason stated, never an exception: tracks without
artists, an unknown tag vocabulary, NaN descriptors, events for unknown tracks, a listener who
only skipped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiotaste.errors import InputError
from audiotaste.recommend import Recommender, TasteProfile
from audiotaste.recommend.explore import Discovery


def _tracks(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    energy = rng.uniform(0, 1, n)
    energy[::5] = np.nan  # a descriptor that could not be measured
    return pd.DataFrame(
        {
            "track_id": [f"t{i}" for i in range(n)],
            "energy": energy,
            "tempo_bpm": np.where(np.arange(n) % 7 == 0, np.nan, rng.uniform(60, 180, n)),
            # a vocabulary nobody wrote code for
            "genre.zydeco": rng.uniform(0, 1, n),
            "genre.gqom": rng.uniform(0, 1, n),
            "mood.wistful": rng.uniform(0, 1, n),
        }
    )


def _events(tracks: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = []
    t0 = pd.Timestamp("2025-06-01", tz="UTC")
    for u in range(12):
        for j in rng.choice(len(tracks), 8, replace=False):
            rows.append(
                (
                    f"u{u}",
                    tracks.track_id[j],
                    t0 + pd.Timedelta(hours=int(rng.integers(0, 500))),
                    200_000,
                )
            )
    rows += [("u0", "not-in-the-catalogue", t0 + pd.Timedelta(days=d), 200_000) for d in range(3)]
    # a listener who skipped everything they started
    rows += [
        ("skipper", tracks.track_id[j], t0 + pd.Timedelta(minutes=int(j)), 4_000) for j in range(5)
    ]
    return pd.DataFrame(rows, columns=["user_id", "track_id", "timestamp", "ms_played"])


def test_a_catalogue_without_artists_with_odd_tags_and_gaps_still_recommends() -> None:
    tracks = _tracks()
    rec = Recommender(factors=4, iterations=3).fit(_events(tracks), tracks)
    assert (rec.artist_code_ == -1).all()
    assert np.isfinite(rec.X_).all()
    assert rec.fit_report_.dropped["unknown_track"] == 3  # counted, not an error
    out = rec.recommend("u1", n=5)
    assert len(out) == 5 and out["reason"].str.len().gt(0).all()
    assert np.isfinite(out["score"]).all()
    assert not out["reason"].str.contains("whom you play").any()  # no artists to speak of


def test_a_listener_who_only_skipped_gets_a_list_and_an_honest_reason() -> None:
    tracks = _tracks()
    rec = Recommender(factors=4, iterations=3).fit(_events(tracks), tracks)
    out = rec.recommend("skipper", n=5)
    assert len(out) == 5
    assert not out["reason"].str.contains("which you favour").any()
    assert not set(out["track_id"]) & {f"t{j}" for j in range(5)}
    profile = TasteProfile.from_events(_events(tracks), tracks, user_id="skipper").to_dict()
    assert profile["skip_rate"] == 1.0
    playlist = Discovery(rec, 6, tracks=tracks).playlist("skipper")
    assert len(playlist) == 6
    assert any("no liked plays" in note for note in playlist.attrs["unmet"])


def test_a_frame_without_any_content_column_is_a_named_input_error() -> None:
    tracks = pd.DataFrame({"track_id": ["a", "b"], "comment": ["x", "y"]})
    with pytest.raises(InputError, match="no content columns"):
        Recommender().fit(_events(_tracks()), tracks)
