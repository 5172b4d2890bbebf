"""Discovery state kept between runs: save/load round trip, corrupt files, atomic writes, and the
CLI learning from the feedback between two weekly runs."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiotaste.errors import InputError
from audiotaste.recommend import Recommender
from audiotaste.recommend.explore import ARMS, Discovery


@pytest.fixture(scope="module")
def rec(split) -> Recommender:
    train, _, tracks = split
    return Recommender(factors=8, iterations=4).fit(train, tracks)


def _feedback(disc: Discovery, users: list[str], t0: pd.Timestamp, full_arm: str) -> pd.DataFrame:
    """Every listener starts every track; tracks from ``full_arm`` are finished, the rest skipped."""
    frames = [disc.playlist(u, served_at=t0) for u in users]
    pl = pd.concat(frames, ignore_index=True)
    full = pl["arm"].eq(full_arm).to_numpy()
    return pd.DataFrame(
        {
            "user_id": np.repeat(users, [len(f) for f in frames]),
            "track_id": pl["track_id"],
            "timestamp": t0 + pd.Timedelta(days=1) + pd.to_timedelta(np.arange(len(pl)), unit="s"),
            "ms_played": np.where(full, pl["duration_s"] * 1000, 5_000).astype(np.int64),
        }
    )


def test_save_load_round_trip(rec, split, tmp_path) -> None:
    train, _, tracks = split
    t0 = train["timestamp"].max()
    users = [str(u) for u in rec.user_ids_[:20]]
    disc = Discovery(rec, 20, tracks=tracks, epsilon=0.2, discount=0.8, random_state=3)
    for week in range(2):
        disc.update(_feedback(disc, users, t0 + pd.Timedelta(weeks=week), "for_you"), refit=False)
    disc.playlist(users[0], served_at=t0 + pd.Timedelta(weeks=2))  # pending: no feedback yet
    path = disc.save(tmp_path / "state.json")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    doc = json.loads(path.read_text())
    assert doc["format"] == "audiotaste.discovery" and doc["params"]["epsilon"] == 0.2

    back = Discovery.load(path, rec, tracks=tracks)
    assert (back.epsilon, back.discount, back.size, back._round) == (0.2, 0.8, 20, disc._round)
    pd.testing.assert_frame_equal(back.log_, disc.log_, check_dtype=False)
    assert back.log_["reward"].isna().sum() == 20  # the pending playlist stays pending
    assert back.log_["served_at"].notna().all()
    for u in users[:3]:
        pd.testing.assert_frame_equal(back.beliefs(u), disc.beliefs(u), check_exact=False)
    np.testing.assert_allclose(back.coef_, disc.coef_)
    assert back._shown == disc._shown
    # Same random stream, same re-ranker, same shown tracks: the same next playlist.
    a = disc.playlist(users[1], record=False)
    b = back.playlist(users[1], record=False)
    assert a["track_id"].tolist() == b["track_id"].tolist()
    assert np.allclose(a["propensity"], b["propensity"])


def test_beliefs_follow_feedback_and_survive_reload(rec, split, tmp_path) -> None:
    """Saved after one week of "for you" skipped and "new" finished, reloaded, the beliefs say so."""
    train, _, tracks = split
    users = [str(u) for u in rec.user_ids_[:15]]
    disc = Discovery(rec, 30, tracks=tracks, random_state=0)
    prior = disc.beliefs(users[0]).set_index("arm")["mean"]
    disc.update(_feedback(disc, users, train["timestamp"].max(), "new"), refit=False)
    back = Discovery.load(disc.save(tmp_path / "s.json"), rec, tracks=tracks)
    b = back.beliefs(users[0]).set_index("arm")
    assert b.loc["new", "mean"] > prior["new"]
    assert b.loc["for_you", "mean"] < prior["for_you"]
    assert b.loc["for_you", "full_plays"] == 0 and b.loc["for_you", "other_starts"] > 0


def test_new_feedback_is_what_came_after_each_listeners_playlist(rec) -> None:
    disc = Discovery(rec, 10)
    u1, u2, u3 = (str(u) for u in rec.user_ids_[:3])
    t = pd.Timestamp("2030-01-01", tz="UTC")
    disc.playlist(u1, served_at=t)
    disc.playlist(u2, served_at=t + pd.Timedelta(days=3))
    disc.playlist(u3)  # no time given: nothing counts as its feedback
    ev = pd.DataFrame(
        {
            "user_id": [u1, u1, u2, u2, u3, "stranger"],
            "track_id": ["x"] * 6,
            "timestamp": pd.to_datetime(
                [
                    "2029-12-31",
                    "2030-01-02",
                    "2030-01-02",
                    "2030-01-05",
                    "2030-02-01",
                    "2030-02-01",
                ],
                utc=True,
            ),
            "ms_played": [1] * 6,
        }
    )
    got = disc.new_feedback(ev)
    assert got.index.tolist() == [1, 3]
    assert disc.last_served(u2) == t + pd.Timedelta(days=3)
    assert disc.last_served(u3) is None and disc.last_served("stranger") is None
    assert Discovery(rec, 10).new_feedback(ev).empty


@pytest.mark.parametrize(
    "text, says",
    [
        ('{"format": "audiotaste.discovery", "version": 1, "arms"', "not JSON"),
        ("[1, 2, 3]", "not an audiotaste discovery state"),
        ('{"format": "audiotaste.discovery", "version": 99}', "version 99"),
        (b"\xff\xfe{}", "not JSON"),
    ],
)
def test_corrupt_state_is_a_named_input_error(rec, tmp_path, text, says) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError, match=says) as err:
        Discovery.load(path, rec)
    assert err.value.path == str(path)
    with pytest.raises(InputError, match="no such discovery state"):
        Discovery.load(tmp_path / "missing.json", rec)


def test_state_with_bad_contents_is_named(rec, tmp_path) -> None:
    disc = Discovery(rec, 10)
    disc.playlist(str(rec.user_ids_[0]))
    doc = json.loads(disc.save(tmp_path / "ok.json").read_text())
    bad = json.loads(json.dumps(doc))
    bad["users"][str(rec.user_ids_[0])]["counts"] = [[1, 2]]
    bad["users"][str(rec.user_ids_[0])]["week"] = 1
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="corrupt discovery state"):
        Discovery.load(tmp_path / "bad.json", rec)
    bad = json.loads(json.dumps(doc))
    bad["log"]["arm"][0] = "jukebox"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="unknown shelves"):
        Discovery.load(tmp_path / "bad.json", rec)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=st.sampled_from(["params", "round", "coef", "rng", "users", "log", "arms"]),
    value=_json_values,
)
def test_any_damaged_field_loads_or_is_an_input_error(rec, tmp_path, key, value) -> None:
    """Whatever one field of a valid state is replaced with, load() succeeds or names the problem."""
    disc = Discovery(rec, 10)
    disc.playlist(str(rec.user_ids_[0]), served_at="2030-01-01")
    doc = json.loads(disc.save(tmp_path / "ok.json").read_text())
    doc[key] = value
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(doc))
    try:
        Discovery.load(path, rec)
    except InputError as exc:
        assert "corrupt discovery state" in exc.reason


def test_failed_write_keeps_the_old_state(rec, tmp_path, monkeypatch) -> None:
    disc = Discovery(rec, 10)
    path = disc.save(tmp_path / "state.json")
    before = path.read_bytes()
    disc.playlist(str(rec.user_ids_[0]))

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(InputError, match="cannot write the discovery state"):
        disc.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_cli_learns_between_weekly_runs(monkeypatch, split, tmp_path) -> None:
    """Two `discover` runs with a week of feedback in between: the state file carries the bandit,
    and the shelf whose tracks were all skipped loses weight."""
    from typer.testing import CliRunner

    from tests.recommend.conftest import discover_app

    train, _, tracks = split
    app = discover_app(monkeypatch, tracks)

    user = "u00001"
    history = train[train["user_id"].isin([user, "u00002"])]
    events = tmp_path / "events.parquet"
    history.to_parquet(events)
    base = ["discover", "--events", str(events), "--db", str(tmp_path / "c.sqlite")]
    base += ["--user", user, "--json"]
    r = CliRunner().invoke(app, base)
    assert r.exit_code == 0, r.output
    week1 = json.loads(r.stdout)
    state = tmp_path / "c.discovery.json"
    assert week1["state"] == str(state) and state.is_file()
    b1 = pd.DataFrame(week1["beliefs"]).set_index("arm")
    shown = pd.DataFrame(week1["tracks"])
    # The listener skips every track of the week's biggest shelf and finishes all the others.
    skipped_arm = shown["arm"].value_counts().index[0]
    skipped = shown["arm"].eq(skipped_arm).to_numpy()
    t0 = history["timestamp"].max()
    feedback = pd.DataFrame(
        {
            "user_id": user,
            "track_id": shown["track_id"],
            "timestamp": t0
            + pd.Timedelta(days=2)
            + pd.to_timedelta(np.arange(len(shown)), unit="min"),
            "ms_played": np.where(skipped, 4_000, shown["duration_s"] * 1000).astype(np.int64),
        }
    )
    pd.concat([history, feedback], ignore_index=True).to_parquet(events)
    r = CliRunner().invoke(app, base)
    assert r.exit_code == 0, r.output
    week2 = json.loads(r.stdout)
    b2 = pd.DataFrame(week2["beliefs"]).set_index("arm")
    assert b2.loc[skipped_arm, "mean"] < b1.loc[skipped_arm, "mean"]
    assert b2.loc[skipped_arm, "full_plays"] == 0
    assert b2.loc[skipped_arm, "other_starts"] == pytest.approx(skipped.sum())
    finished = set(shown.loc[~skipped, "arm"])
    assert all(b2.loc[a, "mean"] > b1.loc[a, "mean"] for a in finished)
    assert b2.loc[skipped_arm, "p_choose"] < b1.loc[skipped_arm, "p_choose"]
    assert not set(pd.DataFrame(week2["tracks"])["track_id"]) & set(shown["track_id"])
    saved = json.loads(state.read_text())
    rewards = pd.Series(saved["log"]["reward"][: len(shown)])
    assert rewards.notna().all() and rewards.sum() == (~skipped).sum()
    # A third run with no new plays learns nothing new about the first playlist.
    r = CliRunner().invoke(app, base)
    b3 = pd.DataFrame(json.loads(r.stdout)["beliefs"]).set_index("arm")
    pd.testing.assert_series_equal(b3["full_plays"], b2["full_plays"])
    # --no-state neither reads nor writes it.
    before = state.read_bytes()
    r = CliRunner().invoke(app, [*base, "--no-state"])
    assert r.exit_code == 0 and state.read_bytes() == before
    assert json.loads(r.stdout)["state"] is None
    # A corrupt state file is named, not replaced.
    state.write_text("{not json", encoding="utf-8")
    r = CliRunner().invoke(app, base[:-1])
    assert r.exit_code == 1 and "corrupt discovery state" in r.output
    assert state.read_text(encoding="utf-8") == "{not json"
    assert set(ARMS) == set(b2.index)
