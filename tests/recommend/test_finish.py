from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from audiotaste.recommend.finish import comfort_centre, comfort_gap, comfort_grid, track_finish_odds


def test_track_finish_odds_counts_likes_against_skips() -> None:
    # track 0: 3 likes, 1 skip; track 1: 0 likes, 2 skips; track 2: never started
    ev = sp.csr_matrix(
        np.array([[1.0, -1.0, 0.0], [0.5, -0.2, 0.0], [0.25, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    )
    listens = np.array([3, 0, 0])
    got = track_finish_odds(ev, listens, prior=1.0)
    assert got == pytest.approx(np.log([4 / 2, 1 / 3, 1.0]))


def test_comfort_centre_follows_finishes_not_starts() -> None:
    """The listener started mostly slow tracks (their genres) and skipped them; the few fast ones
    they finished. The liked tracks' mean would sit between; the centre sits on the finishes."""
    values = np.linspace(0.0, 1.0, 101)  # the catalogue's descriptor
    slow = np.arange(10, 40)  # 0.10-0.39: started 30, skipped
    fast = np.arange(75, 85)  # 0.75-0.84: finished
    very_fast = np.arange(95, 100)  # 0.95-0.99: skipped
    tracks = np.concatenate([slow, fast, very_fast])
    evidence = np.concatenate([-np.ones(30), np.ones(10), -np.ones(5)])
    evidence[:6] = 0.25  # a few slow ones half-listened: liked, weakly
    c = comfort_centre(values, tracks, evidence)
    assert c is not None and 0.74 <= c <= 0.85
    # no skips: no contrast, the liked tracks' weighted median
    assert comfort_centre(values, fast, np.ones(10)) == pytest.approx(0.79)
    assert comfort_centre(np.full(101, np.nan), tracks, evidence) is None
    assert comfort_centre(values, slow, -np.ones(30)) is None  # only skips: no centre


def test_a_listener_who_finishes_only_fast_tracks_gets_fast_unheard_tracks_first() -> None:
    rng = np.random.default_rng(0)
    log_tempo = np.log2(rng.uniform(100, 170, 400))
    heard = np.arange(200)
    evidence = np.where(log_tempo[heard] > np.log2(140), 1.0, -1.0)
    gap = comfort_gap(log_tempo, heard, evidence, fold=True)
    assert gap is not None
    unheard = np.arange(200, 400)
    first = unheard[np.argsort(gap[unheard])[:20]]
    assert (2 ** log_tempo[first] > 130).all()
    # octave-folded: a track read at twice its tempo is as close as the tempo itself
    assert comfort_gap(np.array([7.0, 8.0, 6.0]), np.array([0]), np.array([1.0]), fold=True) == (
        pytest.approx([0.0, 0.0, 0.0])
    )
    assert comfort_gap(None, heard, evidence) is None


def test_a_grid_computed_once_gives_the_same_centre() -> None:
    values = np.linspace(0.0, 1.0, 101)
    tracks = np.arange(10, 90, 3)
    evidence = np.where(values[tracks] > 0.6, 1.0, -1.0)
    grid = comfort_grid(values)
    assert grid is not None and len(grid) == 49
    assert comfort_centre(values, tracks, evidence, grid=grid) == comfort_centre(values, tracks, evidence)
    assert comfort_grid(np.full(5, np.nan)) is None and comfort_grid(None) is None
