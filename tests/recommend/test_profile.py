from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiotaste.errors import InputError
from audiotaste.recommend import TasteProfile


def _tracks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "track_id": ["j1", "j2", "r1", "r2"],
            "artist": ["Bill Evans", "Bill Evans", "Loud Band", "Loud Band"],
            "title": ["Peace Piece", "Blue", "Riff", "Riff 2"],
            "duration_s": [300.0, 300.0, 200.0, 200.0],
            "tempo_bpm": [70.0, 80.0, 160.0, 170.0],
            "key": [9, 9, 4, 4],
            "mode": [0, 0, 1, 1],
            "energy": [0.2, 0.3, 0.9, 0.95],
            "danceability": [0.3, 0.3, 0.6, 0.6],
            "genre.jazz": [0.9, 0.8, 0.05, 0.0],
            "genre.rock": [0.05, 0.1, 0.9, 0.95],
            "mood.calm": [0.9, 0.8, 0.1, 0.0],
        }
    )


def _events() -> pd.DataFrame:
    t0 = pd.Timestamp("2025-01-06", tz="UTC")
    rows = []
    for d in range(14):  # two weeks: jazz to the end every day, rock skipped after 5 s
        rows.append(("u1", "j1" if d % 2 else "j2", t0 + pd.Timedelta(days=d), 300_000))
        rows.append(("u1", "r1" if d % 2 else "r2", t0 + pd.Timedelta(days=d, hours=1), 5_000))
    rows.append(("u2", "r1", t0, 200_000))
    return pd.DataFrame(rows, columns=["user_id", "track_id", "timestamp", "ms_played"])


def test_profile_known_answers() -> None:
    p = TasteProfile.from_events(_events(), _tracks(), user_id="u1")
    assert not p.is_default and p.n_plays == 28
    assert list(p.genres)[0] == "jazz" and p.genres["jazz"] > 0 > p.genres["rock"]
    assert p.moods["calm"] > 0
    assert p.skip_rate == 0.5
    assert p.mean_listened_fraction == pytest.approx(0.5 * 1.0 + 0.5 * 5 / 200, abs=1e-3)
    assert p.tempo_range is not None and 70 <= p.tempo_range[0] <= p.tempo_range[1] <= 80
    assert p.energy is not None and 0.2 <= p.energy <= 0.3
    assert p.keys == {"A minor": 1.0}
    assert list(p.top_artists) == ["Bill Evans"]
    assert [w["plays"] for w in p.drift] == [14, 14] and all(
        w["top_genre"] == "jazz" for w in p.drift
    )
    assert "calm" in p.label and "jazz" in p.label
    assert p.to_dict()["genres"]["jazz"] == p.genres["jazz"]


def test_openness_is_higher_for_varied_listening() -> None:
    ev = _events()
    ev.loc[ev["track_id"].str.startswith("r"), "ms_played"] = 200_000  # now likes rock too
    varied = TasteProfile.from_events(ev, _tracks(), user_id="u1")
    narrow = TasteProfile.from_events(_events(), _tracks(), user_id="u1")
    assert varied.openness is not None and narrow.openness is not None
    assert varied.openness > narrow.openness + 0.2


def test_a_short_track_played_to_the_end_is_not_a_skip() -> None:
    from audiotaste.recommend.profile import evidence

    ev = pd.DataFrame(
        {
            "ms_played": [15_000, 5_000, 100_000, 300_000],
            "timestamp": pd.Timestamp("2025-01-01", tz="UTC"),
        }
    )
    w = evidence(ev, np.array([15.0, 200.0, 300.0, np.nan]))
    assert list(w) == [1.0, -1.0, 0.25, 1.0]


def test_profile_bad_input() -> None:
    with pytest.raises(InputError, match="no listener 'nobody'"):
        TasteProfile.from_events(_events(), _tracks(), user_id="nobody")
    with pytest.raises(InputError, match="name one with user_id"):
        TasteProfile.from_events(_events(), _tracks())
    with pytest.raises(InputError, match="no content columns"):
        TasteProfile.from_events(
            _events(), _tracks()[["track_id", "artist", "title"]], user_id="u1"
        )
    empty = TasteProfile.from_events(_events().iloc[:0], _tracks())
    assert empty.is_default and "default" in empty.label and empty.genres == {}
