"""The simulator's optional concentrated listeners (``genre_concentration``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audiotaste.recommend.simulate import concentrated_tastes, simulate


def test_concentrated_tastes_have_a_stable_dominant_genre_and_a_moving_tail() -> None:
    rng = np.random.default_rng(0)
    openness = np.r_[np.zeros(500), np.ones(500)]
    now, later = concentrated_tastes(openness, 8, 1.5, rng)
    assert np.allclose(now.sum(1), 1) and np.allclose(later.sum(1), 1) and (now > 0).all()
    assert (now.argmax(1) == later.argmax(1)).all()  # the core stays
    second_now = np.argsort(-now, 1)[:, 1]
    second_later = np.argsort(-later, 1)[:, 1]
    assert 0.5 < (second_now != second_later).mean() < 0.95  # the tail is reordered
    top = now.max(1)
    # exponent 1.5 * 1.5 for closed listeners: 1 / sum(r ** -2.25) = 0.70 before the jitter
    assert 0.62 < np.median(top[:500]) < 0.76
    assert np.median(top[500:]) < np.median(top[:500]) - 0.2  # open listeners: a flatter tail


def test_genre_concentration_changes_listeners_only() -> None:
    kw = dict(n_users=100, n_artists=80, n_tracks=1500, weeks=3, random_state=4)
    broad = simulate(**kw)
    focused = simulate(**kw, genre_concentration=1.5)
    again = simulate(**kw)
    pd.testing.assert_frame_equal(broad.events, again.events)  # the default is untouched
    # The catalogue is the same; only the tagging noise, drawn after the plays, differs.
    same = ["track_id", "artist_id", "duration_s", "release", "debut"]
    pd.testing.assert_frame_equal(broad.tracks[same], focused.tracks[same])
    pd.testing.assert_frame_equal(
        broad.users.drop(columns="top_genre"), focused.users.drop(columns="top_genre")
    )
    genre_cols = [c for c in focused.tracks if c.startswith("genre.")]
    dominant = focused.tracks.set_index("track_id")[genre_cols].idxmax(axis=1)

    def top_share(sim) -> float:
        full = sim.events[~sim.events["skipped"]]
        counts = pd.crosstab(full["user_id"], full["track_id"].map(dominant))
        return float((counts.max(axis=1) / counts.sum(axis=1)).median())

    assert top_share(focused) > top_share(broad) + 0.1
