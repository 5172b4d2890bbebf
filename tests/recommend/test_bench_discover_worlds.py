"""The worlds' discovery bench answers playlists with the world's own formulas (known answers)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import _bench_discover_worlds as b  # noqa: E402

from audiotaste.recommend.worlds import WorldConfig  # noqa: E402

TINY = dict(n_users=40, n_artists=30, n_tracks=300, weeks=3, plays_per_week=8.0, seed=3)


def test_a_world_answers_every_started_track_and_learns_the_artists_it_played() -> None:
    w = b.WorldPlayer.create(WorldConfig("tiny", "tags", skip="novelty", **TINY))
    s = w.s
    np.testing.assert_array_equal(w.mix(5), s["cl_w"])  # no drift: the mix never moves
    u = np.repeat(np.arange(4), 10)
    items = np.tile(np.arange(10), 4)
    ev, full = w.respond(u, items, 3, np.random.default_rng(0))
    assert len(ev) == len(items) and (ev["track_id"].to_numpy() == s["track_ids"][items]).all()
    assert (
        ev["ms_played"].to_numpy()[full] == (s["duration"][items[full]] * 1000).astype(int)
    ).all()
    for x, i in zip(u[full], items[full], strict=True):
        assert int(s["artist"][i]) in s["known_artists"][x]
    assert full.any() and not full.all()


def test_a_drifting_world_reaches_its_final_mix_and_stays_there() -> None:
    w = b.WorldPlayer.create(WorldConfig("tiny-drift", "latent", drift=True, **TINY))
    np.testing.assert_allclose(w.mix(3), w.s["drift_to"])
    np.testing.assert_allclose(w.mix(9), w.s["drift_to"])


def test_both_policies_run_and_count_what_they_found() -> None:
    cfg = WorldConfig("tiny", "embedding", **TINY)
    for name in ("greedy", "ours"):
        r = b.run_policy(name, cfg, rounds=2, size=5, seed=0)
        assert 0 < r["full_plays"] <= 2 * 5 * TINY["n_users"]
        assert 0 <= r["new_artists"] <= 10
        assert 0 <= r["adopted"] <= r["new_artists"]  # adopted: found, then fully played again
