"""The learned blend: a known world where debut artists are reachable only through their sound,
the exposure split between kinds of track, and the fall-back for a short history."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from audiotaste.recommend import Recommender
from audiotaste.recommend.blend import (
    BASE_FEATURES,
    KINDS,
    Blend,
    _fit_nonnegative,
    taste_vectors,
)
from audiotaste.recommend.evaluate import (
    evaluate_slice,
    relevant_by_index,
    time_split,
)
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
    # nobody can know a debut artist: no artist factors, no popularity, nothing learned from
    # which artists happened to be heard (the content-predicted factors) in its score
    for name in ("cf_own", "cf_content", "cf_artist", "popularity"):
        assert debut_row[BASE_FEATURES.index(name)] == 0.0
    # in this world taste is over the audio embedding: the embedding group must carry weight
    sound = debut_row[BASE_FEATURES.index("sound")]
    assert sound + debut_row[len(BASE_FEATURES) + rec.blend_.groups.index("embedding")] > 0
    # and no group's total weight is negative (a reason would lie)
    assert (sound + debut_row[len(BASE_FEATURES) :] >= 0).all()
    meta = sim.tracks.set_index("track_id").loc[rec.track_ids_]
    debut = np.flatnonzero((meta["release"] >= sim.split).to_numpy() & meta["debut"].to_numpy())
    assert set(rec.kind_[debut]) == {KINDS.index("debut")}
    uidx = pd.Index(rec.user_ids_)
    relevant = relevant_by_index(test, tracks, rec.user_ids_, rec.track_ids_)
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


def test_a_blend_saved_before_the_sound_feature_loads_with_its_weight_zero() -> None:
    groups = ("genre", "tempo")
    old = np.arange(3 * (len(BASE_FEATURES) - 1 + len(groups)), dtype=float).reshape(3, -1)
    blend = Blend.from_dict(
        {"groups": list(groups), "coef": old.tolist(), "intercept": [0.0, 0.0, 0.0]}
    )
    sound = BASE_FEATURES.index("sound")
    assert blend.coef.shape == (3, len(BASE_FEATURES) + len(groups))
    assert (blend.coef[:, sound] == 0).all()
    np.testing.assert_array_equal(np.delete(blend.coef, sound, axis=1), old)
    again = Blend.from_dict(blend.to_dict())
    np.testing.assert_array_equal(again.coef, blend.coef)


def test_taste_is_the_sound_of_what_was_played_with_skips_counting_against() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)
    ev = sp.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.5, 0.5, 0.0]]))
    t = taste_vectors(ev, x)
    np.testing.assert_allclose(t[0], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(t[1], [0.0, -1.0], atol=1e-6)  # a skip points away from its sound
    np.testing.assert_allclose(t[2], [2**-0.5, 2**-0.5], atol=1e-6)
    assert np.isfinite(taste_vectors(sp.csr_matrix((1, 3)), x)).all()  # no history: zeros


def _two_group_fit(signal_a: float, signal_b: float) -> tuple[float, float]:
    """Total weights of two content groups fitted to plays driven by each group's similarity."""
    rng = np.random.default_rng(0)
    n = 6000
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(signal_a * a + signal_b * b - 1.5)))).astype(float)
    feats = np.zeros((n, len(BASE_FEATURES) + 2))
    sound = BASE_FEATURES.index("sound")
    feats[:, sound] = a + b
    feats[:, len(BASE_FEATURES)], feats[:, len(BASE_FEATURES) + 1] = a, b
    use = np.zeros(feats.shape[1], bool)
    use[sound] = True
    use[len(BASE_FEATURES) :] = True
    w, _ = _fit_nonnegative(feats, y, use, rng.integers(0, 300, n))
    return w[sound] + w[len(BASE_FEATURES)], w[sound] + w[len(BASE_FEATURES) + 1]


def test_groups_that_earn_the_same_keep_equal_shares_and_one_that_earns_more_gets_more() -> None:
    a, b = _two_group_fit(0.6, 0.6)
    assert a > 0 and b > 0 and abs(a - b) < 0.2 * (a + b)
    a, b = _two_group_fit(1.2, 0.0)
    assert a > 3 * max(b, 1e-9) and b >= 0  # a group that predicts nothing is not made negative


def test_feedback_keeps_a_listeners_scores_on_the_learned_scale(world) -> None:
    """partial_fit solves listeners' factors on ALS's scale, the one the blend's weights were
    learned on; solved against the blend's weighted item factors instead, the collaborative part of
    their scores shrank by a third (0.63 of its spread on this world) and popularity and sound took
    over the next recommendations."""
    _, train, _, _, fitted = world
    rec = copy.deepcopy(fitted)
    users = np.arange(40)

    def collaborative() -> np.ndarray:
        return rec.user_factors_[users] @ rec.item_factors_.T

    before = collaborative()
    top = np.argsort(-rec._score(users), axis=1)[:, :5]
    rec.partial_fit(
        pd.DataFrame(
            {
                "user_id": np.repeat(rec.user_ids_[users], 5),
                "track_id": rec.track_ids_[top.ravel()],
                "timestamp": train["timestamp"].max() + pd.Timedelta(days=1),
                "ms_played": 400_000,
            }
        )
    )
    ratio = np.median(collaborative().std(axis=1) / before.std(axis=1))
    assert 0.8 < ratio < 1.25, ratio


def test_the_debut_intercept_is_refitted_on_the_uniform_negatives() -> None:
    from audiotaste.recommend.blend import _intercept

    y = np.array([1.0] * 20 + [0.0] * 80)
    assert _intercept(np.zeros(100), y) == pytest.approx(np.log(0.25), abs=1e-6)
    # with the other terms fixed, the mean predicted probability matches the positive rate
    offset = np.random.default_rng(0).normal(size=100)
    b = _intercept(offset, y)
    assert (1 / (1 + np.exp(-(offset + b)))).mean() == pytest.approx(0.2, abs=1e-6)
