from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiotaste.recommend.evaluate import (
    evaluate_slice,
    relevant_by_index,
    relevant_items,
    time_split,
)
from audiotaste.recommend.simulate import simulate


def _run(scores: np.ndarray, relevant: dict[int, set[int]], popularity: np.ndarray | None = None):
    n_items = scores.shape[1]
    feats = np.eye(n_items, dtype=np.float32)
    return evaluate_slice(
        lambda u, i: scores[np.ix_(u, i)],
        model="m",
        slice_name="s",
        users=list(relevant),
        candidates=np.arange(n_items),
        relevant=relevant,
        features=feats,
        popularity=np.zeros(n_items) if popularity is None else popularity,
        n_users_total=9,
    )


def test_metrics_known_answers() -> None:
    n = 60
    perfect = np.tile(-np.arange(n, dtype=float), (2, 1))  # ranks items 0, 1, 2, ... first
    r = _run(perfect, {0: {0, 1}, 1: {0, 55}})
    assert r.users == 2
    assert r.recall_10 == pytest.approx((1.0 + 0.5) / 2)
    assert r.recall_50 == pytest.approx((1.0 + 0.5) / 2)
    # user 1: one hit at rank 1 of 2 relevant -> 1 / (1 + 1/log2(3))
    assert r.ndcg_10 == pytest.approx((1.0 + 1 / (1 + 1 / np.log2(3))) / 2)
    assert r.coverage == pytest.approx(10 / n)  # both users see the same ten
    assert r.diversity == pytest.approx(1.0)  # orthogonal features
    assert r.novelty == pytest.approx(-np.log2(1 / 10))
    worst = _run(-perfect, {0: {0, 1}})
    assert worst.recall_50 == 0 and worst.ndcg_10 == 0


def test_seen_items_are_left_out_and_users_without_relevant_skipped() -> None:
    scores = np.tile(-np.arange(20, dtype=float), (3, 1))
    r = evaluate_slice(
        lambda u, i: scores[np.ix_(u, i)],
        model="m",
        slice_name="s",
        users=[0, 1, 2],
        candidates=np.arange(20),
        relevant={0: {10}, 1: set(), 2: {99}},
        seen={0: set(range(10))},
        features=np.eye(20, dtype=np.float32),
        popularity=np.zeros(20),
        n_users_total=3,
    )
    assert r.users == 1 and r.ndcg_10 == 1.0


def test_simulator_is_seeded_and_has_both_kinds_of_cold_tracks() -> None:
    a = simulate(n_users=40, n_artists=30, n_tracks=300, weeks=4, random_state=3)
    b = simulate(n_users=40, n_artists=30, n_tracks=300, weeks=4, random_state=3)
    pd.testing.assert_frame_equal(a.events, b.events)
    cold = a.tracks["release"] >= a.split
    assert cold.mean() == pytest.approx(0.2)
    assert a.tracks.loc[cold, "debut"].mean() == pytest.approx(0.5, abs=0.02)
    assert not a.tracks.loc[~cold, "debut"].any()
    train, test = time_split(a.events, a.split)
    assert not train["track_id"].isin(a.tracks.loc[cold, "track_id"]).any()
    assert test["track_id"].isin(a.tracks.loc[cold, "track_id"]).any()
    # Skips are early: under 30 s; a finished play is (nearly) the whole track.
    dur = a.events["track_id"].map(a.tracks.set_index("track_id")["duration_s"])
    done = a.events["reason_end"] == "trackdone"
    assert (a.events.loc[done, "ms_played"] >= 0.9 * dur[done] * 1000 - 1).all()
    rel = relevant_items(test, a.tracks)
    assert len(rel) and set(rel.columns) == {"user_id", "track_id"}


def test_relevant_by_index_uses_the_models_orders_and_drops_unknown_listeners() -> None:
    tracks = pd.DataFrame({"track_id": ["a", "b", "c"], "duration_s": [200.0, 200.0, 200.0]})
    ts = pd.Timestamp("2026-01-01", tz="UTC")
    test = pd.DataFrame({
        "user_id": ["u1", "u1", "u2", "u3", "u1"],
        "track_id": ["c", "a", "b", "a", "b"],
        "timestamp": [ts] * 5,
        "ms_played": [200_000, 200_000, 200_000, 200_000, 3_000],  # u1 skips b
        "skipped": [False, False, False, False, True],
    })  # fmt: skip
    # the model knows u2 and u1 (in that order) and the tracks as c, b, a; u3 is unknown
    got = relevant_by_index(test, tracks, ["u2", "u1"], ["c", "b", "a"])
    assert got == {0: {1}, 1: {0, 2}}
