from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiotaste.errors import InputError
from audiotaste.recommend.events import clean_events, match_tracks, normalise_name, read_events

NOW = pd.Timestamp("2025-03-01", tz="UTC")


def _ext(uri: str | None, ts: str, ms: int, artist: str = "A", title: str = "T") -> dict:
    return {
        "ts": ts,
        "username": "me",
        "ms_played": ms,
        "spotify_track_uri": uri,
        "master_metadata_track_name": title,
        "master_metadata_album_artist_name": artist,
        "skipped": ms < 30000,
        "reason_end": "trackdone",
        "reason_start": "clickrow",
    }


def test_spotify_extended_counts_every_dropped_row(tmp_path: Path) -> None:
    rows = [
        _ext("spotify:track:1", "2025-01-01T10:00:00Z", 200_000),
        _ext("spotify:track:1", "2025-01-01T10:00:00Z", 200_000),  # duplicate
        _ext(None, "2025-01-01T11:00:00Z", 900_000),  # a podcast episode: no track
        _ext("spotify:track:2", "2031-01-01T11:00:00Z", 1000),  # future
        _ext("spotify:track:2", "not a date", 1000),
        _ext("spotify:track:3", "2025-01-02T11:00:00Z", -5),
        _ext("spotify:track:3", "2025-01-02T12:00:00Z", 12_000),
    ]
    p = tmp_path / "Streaming_History_Audio_2025.json"
    p.write_text(json.dumps(rows))
    ev = read_events(p, now=NOW)
    rep = ev.attrs["report"]
    assert rep["format"] == "spotify_extended"
    assert list(ev["track_id"]) == ["spotify:track:1", "spotify:track:3"]
    assert list(ev["user_id"]) == ["me", "me"]
    assert list(ev["ms_played"]) == [200_000, 12_000]
    assert list(ev["skipped"]) == [False, True]
    assert rep["dropped"] == {
        "missing_id": 1,
        "bad_timestamp": 1,
        "future_timestamp": 1,
        "negative_ms_played": 1,
        "duplicate": 1,
    }
    assert rep["rows_read"] == 7 and rep["rows_kept"] == 2


def test_account_data_matched_by_normalised_artist_and_title(tmp_path: Path) -> None:
    rows = [
        {
            "endTime": "2025-01-01 10:00",
            "artistName": "The Beatles",
            "trackName": "Help! (Remastered 2009)",
            "msPlayed": 120000,
        },
        {
            "endTime": "2025-01-01 10:05",
            "artistName": "Björk",
            "trackName": "Jóga",
            "msPlayed": 5000,
        },
        {
            "endTime": "2025-01-01 10:09",
            "artistName": "Nobody",
            "trackName": "Unknown",
            "msPlayed": 5000,
        },
    ]
    p = tmp_path / "StreamingHistory0.json"
    p.write_text(json.dumps(rows))
    ev = read_events(p, user_id="ana", now=NOW)
    assert ev.attrs["report"]["format"] == "spotify_account"
    assert set(ev["user_id"]) == {"ana"}
    tracks = pd.DataFrame(
        {"track_id": ["x1", "x2"], "artist": ["Beatles", "Bjork"], "title": ["Help!", "Joga"]}
    )
    matched, report = match_tracks(ev, tracks)
    assert list(matched["track_id"]) == ["x1", "x2"]
    assert report.matched == {"artist_title": 2}
    assert report.unmatched == 1 and report.top_unmatched == [("Nobody - Unknown", 1)]


def test_listenbrainz_jsonl_with_a_malformed_line_matched_by_isrc(tmp_path: Path) -> None:
    good = {
        "listened_at": 1735725600,
        "user_name": "lb",
        "track_metadata": {
            "artist_name": "X",
            "track_name": "Y",
            "additional_info": {"isrc": "usabc1234567", "duration_ms": 180000},
        },
    }
    p = tmp_path / "listens.jsonl"
    p.write_text(json.dumps(good) + "\n{not json\n")
    ev = read_events(p, now=NOW)
    rep = ev.attrs["report"]
    assert rep["format"] == "listenbrainz" and rep["dropped"] == {"malformed_json": 1}
    assert ev["timestamp"].iloc[0] == pd.Timestamp("2025-01-01 10:00", tz="UTC")
    assert ev["ms_played"].iloc[0] == 180000
    matched, report = match_tracks(ev, pd.DataFrame({"track_id": ["k"], "isrc": ["USABC1234567"]}))
    assert list(matched["track_id"]) == ["k"] and report.matched == {"isrc": 1}


def test_csv_in_schema_and_missing_columns(tmp_path: Path) -> None:
    p = tmp_path / "ev.csv"
    pd.DataFrame(
        {
            "user_id": ["u"],
            "track_id": ["t"],
            "timestamp": ["2025-01-01T00:00:00Z"],
            "ms_played": ["abc"],
        }
    ).to_csv(p, index=False)
    ev = read_events(p, now=NOW)
    assert ev.empty and ev.attrs["report"]["dropped"] == {"bad_ms_played": 1}
    p.write_text("user_id,track_id\nu,t\n")
    with pytest.raises(InputError, match="ms_played"):
        read_events(p)
    with pytest.raises(InputError, match="no such events file"):
        read_events(tmp_path / "missing.json")


def test_normalise_name() -> None:
    assert normalise_name("The Beatles") == normalise_name("beatles")
    assert normalise_name("Help! - Remastered") == "help remastered"
    assert normalise_name("Jóga (2004 Remaster)") == "joga"
    assert normalise_name(None) == ""


@pytest.mark.parametrize("text", ['{"payload": 5}', "[1, 2, 3]", '"just a string"', "{}", "[]"])
def test_odd_json_is_an_input_error_or_counted(tmp_path: Path, text: str) -> None:
    p = tmp_path / "odd.json"
    p.write_text(text)
    try:
        ev = read_events(p, now=NOW)
    except InputError as exc:
        assert str(p) in str(exc)
    else:
        rep = ev.attrs["report"]
        assert ev.empty and rep["rows_kept"] + sum(rep["dropped"].values()) == rep["rows_read"]


cells = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(-(10**6), 10**12),
    st.floats(allow_nan=True),
    st.booleans(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {c: cells for c in ("user_id", "track_id", "timestamp", "ms_played")}
        ),
        max_size=12,
    )
)
def test_clean_events_never_loses_a_row_silently(rows: list[dict]) -> None:
    df = pd.DataFrame(rows, columns=["user_id", "track_id", "timestamp", "ms_played"])
    ev, rep = clean_events(df, now=NOW)
    assert rep.rows_kept == len(ev)
    assert rep.rows_kept + sum(rep.dropped.values()) == rep.rows_read == len(rows)
    assert (ev["ms_played"] >= 0).all()
    assert (ev["timestamp"] <= NOW + pd.Timedelta(days=1)).all()


def test_untagged_catalogue_tracks_match_by_file_name() -> None:
    tracks = pd.DataFrame(
        {
            "track_id": ["a", "b"],
            "artist": [None, "Kid Voltage"],
            "title": [None, "Overdrive City"],
            "path": ["/music/the_velvet_quartet-blue_hour_walk.ogg", "/music/whatever.ogg"],
        }
    )
    ev = pd.DataFrame(
        {
            "track_id": ["spotify:track:1", "spotify:track:2", "spotify:track:3"],
            "artist_name": ["The Velvet Quartet", "Kid Voltage", "Blue Hour"],
            "track_name": ["Blue Hour Walk", "Overdrive City", "Walk"],
        }
    )
    matched, report = match_tracks(ev, tracks)
    assert list(matched["track_id"]) == ["a", "b"] and report.unmatched == 1


def test_duplicates_found_exactly_in_a_large_log() -> None:
    # Above the size where clean_events hashes instead of calling DataFrame.duplicated.
    rng = np.random.default_rng(0)
    n = 250_000
    base = pd.DataFrame(
        {
            "user_id": np.char.add("u", rng.integers(0, 500, n).astype(str)),
            "track_id": np.char.add("t", rng.integers(0, 5000, n).astype(str)),
            "timestamp": pd.Timestamp("2025-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
            "ms_played": rng.integers(0, 300_000, n),
        }
    ).drop_duplicates(["user_id", "track_id", "timestamp"])
    copies = base.sample(300, random_state=1).assign(ms_played=7)  # same key, other play length
    near = base.sample(300, random_state=2).assign(  # same user and track, one second later
        timestamp=lambda d: d["timestamp"] + pd.Timedelta(seconds=1)
    )
    log = pd.concat([base, copies, near], ignore_index=True).sample(frac=1, random_state=3)
    expected = log.duplicated(["user_id", "track_id", "timestamp"]).sum()
    ev, rep = clean_events(log, now=pd.Timestamp("2026-01-01", tz="UTC"))
    assert rep.dropped.get("duplicate", 0) == expected >= 300
    assert len(ev) == len(log) - expected
    assert not ev.duplicated(["user_id", "track_id", "timestamp"]).any()
    # The first of each repeated key is the one kept, as DataFrame.duplicated keeps it.
    assert (ev["ms_played"] == 7).sum() == (
        log.drop_duplicates(["user_id", "track_id", "timestamp"])["ms_played"] == 7
    ).sum()
