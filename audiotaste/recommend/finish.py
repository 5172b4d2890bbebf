"""Evidence of finishing a track that the re-ranker reads beside the recommender's score.

Two estimates, both learned from the signed evidence (liked vs skipped) the recommender keeps:

- :func:`track_finish_odds`: how often the listeners who started a track kept it, across the
  audience. The recommender's score says who would *choose* a track; whether it is finished also
  depends on the track itself (a weak take of a song suits nobody), and that shows in every
  listener's skips of it, also for listeners to whom its artist is new.
- :func:`comfort_centre`: the tempo or energy around which one listener finishes tracks. Skips
  that come from a track being too fast or too calm for the listener grow with the distance from
  that centre; the mean of the liked tracks misses it, because it also follows what the listener
  chose to start (their genres' tempos), while the contrast between finishes and skips does not.

Measured in docs/BENCHMARKS.md (discover, session 12).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Pseudo-counts of likes and of skips per track in :func:`track_finish_odds`.
PRIOR_COUNT = 2.0
#: Candidate centres tried by :func:`comfort_centre`: these quantiles of the catalogue's values.
GRID = np.linspace(0.02, 0.98, 49)


def track_finish_odds(
    evidence: sp.csr_matrix, listens: np.ndarray, prior: float = PRIOR_COUNT
) -> np.ndarray:
    """Per track, ``log((likes + prior) / (skips + prior))`` over all listeners.

    Parameters
    ----------
    evidence
        Signed evidence ``[n_users, n_tracks]`` (positive: liked, negative: skipped).
    listens
        Listeners with positive evidence per track (the recommender's ``listens_``).
    prior
        Pseudo-counts on each side: a track few listeners started stays near even odds.
    """
    n = evidence.shape[1]
    started = np.bincount(evidence.indices[evidence.data != 0], minlength=n)[:n]
    likes = np.asarray(listens, float)
    return np.log((likes + prior) / (np.maximum(started - likes, 0.0) + prior))


def _distance(x: np.ndarray, c: np.ndarray | float, fold: bool) -> np.ndarray:
    d = np.abs(x - c)
    return np.minimum(d, np.abs(d - 1.0)) if fold else d  # log2 tempo: octave errors


def comfort_grid(values: np.ndarray | None) -> np.ndarray | None:
    """The candidate centres of :func:`comfort_centre`: the :data:`GRID` quantiles of a
    descriptor over the catalogue (``None`` when no track has it). The same for every listener,
    so a caller serving many computes it once (a catalogue of 1 M tracks takes ~45 ms)."""
    if values is None:
        return None
    v = np.asarray(values, float)
    return np.nanquantile(v, GRID) if np.isfinite(v).any() else None


def comfort_centre(
    values: np.ndarray,
    tracks: np.ndarray,
    evidence: np.ndarray,
    *,
    fold: bool = False,
    grid: np.ndarray | None = None,
) -> float | None:
    """The value of ``values`` (a track descriptor) that one listener's finishes centre on.

    Among the candidate centres (:data:`GRID` quantiles of ``values``), the one that minimises
    ``sum((liked - mean liked) * distance)`` over the listener's tracks: finishes close to the
    centre, skips far from it (the linear term of a logistic fit of "liked" on the distance).
    With no skip there is no contrast, and the liked tracks' weighted median stands in; with no
    like, nothing says where the listener finishes (``None``).

    Parameters
    ----------
    values
        The descriptor per catalogue track (NaN where unknown).
    tracks, evidence
        The listener's tracks and their signed evidence.
    fold
        Distances in log2 tempo fold octaves (a track read at twice its tempo is as close).
    grid
        :func:`comfort_grid` of ``values``, computed here when not given.

    Returns
    -------
    float or None
        ``None`` when the listener has no track with a known value, or likes none of them.
    """
    v = np.asarray(values, float)
    x = v[tracks]
    ok = np.isfinite(x) & (evidence != 0)
    if not ok.any():
        return None
    x, y = x[ok], (evidence[ok] > 0).astype(float)
    if y.max() == 0:
        return None
    if y.min() == 1:
        w = evidence[ok]
        order = np.argsort(x)
        cum = np.cumsum(w[order])
        return float(x[order][np.searchsorted(cum, cum[-1] / 2)])
    grid = comfort_grid(v) if grid is None else grid
    assert grid is not None  # some track has a value: x does
    cost = _distance(x[None, :], grid[:, None], fold) @ (y - y.mean())
    return float(grid[np.argmin(cost)])


def comfort_gap(
    values: np.ndarray | None,
    tracks: np.ndarray,
    evidence: np.ndarray,
    *,
    fold: bool = False,
    unknown: float = 0.0,
    grid: np.ndarray | None = None,
) -> np.ndarray | None:
    """Every track's distance from the listener's :func:`comfort_centre` (``unknown`` where the
    track's value is missing); ``None`` when there is no centre."""
    if values is None:
        return None
    c = comfort_centre(values, tracks, evidence, fold=fold, grid=grid)
    if c is None:
        return None
    gap = _distance(np.asarray(values, float), c, fold)
    return np.where(np.isfinite(gap), gap, unknown)
