"""The learned blend: a known world where debut artists are reachable only through their sound,
the exposure split between kinds of track, and the fall-back for a short history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiotaste.recommend import Recommender
from audiotaste.recommend.blend import BASE_FEATURES, KINDS
from audiotaste.recommend.evaluate import evaluate_slice, relevant_items, time_split
from audiotaste.recommend.retrieval import fair_top
from audiotaste.recommend.worlds import HELD_OUT, TUNING, WorldConfig, simulate_world

SMALL = WorldConfig(
    "test-embedding",
    "embedding",
    1.0,
    0.5,
    1,
    False,
    "mismatch",
    n_users=200,
    n_artists=80,
    n_tracks=1000,
    weeks=5,
    seed=5,
)


@pytest.fixture(scope="module")
def world():
    sim = simulate_world(SMALL)
    train, test = time_split(sim.events, sim.split)
    tracks = sim.tracks.drop(columns=["release", "debut"])
    return sim, train, test, tracks, Recommender(factors=16, iterations=8).fit(train, tracks)


def test_tuning_and_held_out_worlds_are_disjoint() -> None:
    assert not {w.name for w in TUNING} & {w.name for w in HELD_OUT}
    assert not {w.seed for w in TUNING} & {w.seed for w in HELD_OUT}
    # every held-out world differs from every tuning world in at least two assumptions
    keys = ("taste", "popularity", "debut_share", "clusters", "drift", "skip")
    for h in HELD_OUT:
        for t in TUNING:
            assert sum(getattr(h, k) != getattr(t, k) for k in keys) >= 2


def test_debut_tracks_are_scored_by_sound_alone_and_found(world) -> None:
    sim, _, test, tracks, rec = world
    assert rec.blend_report_["blend"] == "learned"
    debut_row = rec.blend_.coef[KINDS.index("debut")]
    # nobody can know a debut artist: no artist factors, no popularity in its score
    for name in ("cf_own", "cf_artist", "popularity"):
        assert debut_row[BASE_FEATURES.index(name)] == 0.0
    # in this world taste is over the audio embedding: the embedding group must carry weight
    assert debut_row[len(BASE_FEATURES) + rec.blend_.groups.index("embedding")] > 0
    meta = sim.tracks.set_index("track_id").loc[rec.track_ids_]
    debut = np.flatnonzero((meta["release"] >= sim.split).to_numpy() & meta["debut"].to_numpy())
    assert set(rec.kind_[debut]) == {KINDS.index("debut")}
    uidx, tidx = pd.Index(rec.user_ids_), pd.Index(rec.track_ids_)
    rel = relevant_items(test, tracks)
    rel = rel[rel["user_id"].isin(uidx)]
    relevant: dict[int, set[int]] = {}
    for u, i in zip(
        uidx.get_indexer(rel["user_id"]), tidx.get_indexer(rel["track_id"]), strict=True
    ):
        relevant.setdefault(int(u), set()).add(int(i))
    rng = np.random.default_rng(0)
    kw = dict(
        slice_name="debut",
        users=sorted(relevant),
        candidates=debut,
        relevant=relevant,
        features=rec.X_,
        popularity=rec.listens_,
        n_users_total=len(uidx),
    )
    ours = evaluate_slice(lambda u, i: rec._score(u, i), model="audiotaste", **kw).ndcg_10
    chance = evaluate_slice(lambda u, i: rng.random((len(u), len(i))), model="random", **kw).ndcg_10
    assert ours > 1.5 * chance


def test_fair_top_shares_the_new_tracks_slots_by_expected_relevance() -> None:
    score = np.array([9, 8, 5, 4, 3, 2, 1, 0.5, 0.4, 0.3, -np.inf])
    kind = np.array([0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2])
    share = np.array([5.0, 0.72, 0.28])
    # the two warm tracks keep their places; the new tracks' slots go 0.72 / 0.28 prefix by prefix:
    # the debut kind takes the second of them (0.56 owed against 0.44) and again the sixth
    assert fair_top(score, kind, 8, share).tolist() == [0, 1, 2, 7, 3, 4, 5, 8]
    assert fair_top(score, None, 3, share).tolist() == [0, 1, 2]
    assert 10 not in fair_top(score, kind, 11, share).tolist()  # -inf is never shown


def test_a_short_history_falls_back_to_the_fixed_blend_and_says_so() -> None:
    tracks = pd.DataFrame({"track_id": ["a", "b", "c"], "energy": [0.1, 0.5, 0.9]})
    ev = pd.DataFrame(
        {
            "user_id": ["u", "u", "v"],
            "track_id": ["a", "b", "c"],
            "timestamp": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"], utc=True),
            "ms_played": [200_000] * 3,
        }
    )
    rec = Recommender(factors=2, iterations=2).fit(ev, tracks)
    assert rec.blend_ is None and rec.blend_report_["blend"] == "fixed"
    assert "too little history" in rec.blend_report_["why"]
    assert len(rec.recommend("u", n=2)) == 1
