"""Factors for tracks with few or no listeners: a prior from their sound and their artist.

A track with listens has its own ALS factors; a track with none gets a *prior*: the factors
predicted from its content (a ridge regression from content vectors to the ALS factors of played
tracks, each weighted by its listeners) mixed with the mean factors of its artist's played tracks
when the artist has any. The prior and the track's own factors are blended by
``n / (n + blend_listens)``, ``n`` the track's number of listeners.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def content_projection(
    x: np.ndarray, item_cf: np.ndarray, listens: np.ndarray, *, ridge: float
) -> np.ndarray:
    """Ridge regression ``[x, 1] -> item factors`` over played tracks, weighted by listeners.

    Returns
    -------
    numpy.ndarray
        ``[n_dims + 1, factors]``; zeros when no track has been played.
    """
    n = listens.astype(np.float32)
    warm = n > 0
    x1 = np.hstack([x, np.ones((len(n), 1), np.float32)])
    if not warm.any():
        return np.zeros((x1.shape[1], item_cf.shape[1]), np.float32)
    xw = x1[warm] * np.sqrt(n[warm])[:, None]
    a = xw.T @ xw + ridge * np.eye(x1.shape[1], dtype=np.float32)
    return np.linalg.solve(a, xw.T @ (item_cf[warm] * np.sqrt(n[warm])[:, None])).astype(np.float32)


def artist_means(
    item_cf: np.ndarray, listens: np.ndarray, artist_code: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Listener-weighted mean factors per artist ``[n_artists, factors]`` and each artist's
    listeners summed over tracks ``[n_artists]`` (``artist_code`` -1: no artist)."""
    n = listens.astype(np.float32)
    has = artist_code >= 0
    n_art = max(int(artist_code.max()) + 1, 1) if has.any() else 1
    a_n = np.bincount(artist_code[has], weights=n[has], minlength=n_art)
    by_artist = sp.csr_matrix(
        (n[has], (artist_code[has], np.flatnonzero(has))), shape=(n_art, len(n))
    )
    a_mean = ((by_artist @ item_cf) / np.maximum(a_n, 1e-9)[:, None]).astype(np.float32)
    return a_mean, a_n


def blended_factors(
    x: np.ndarray,
    item_cf: np.ndarray,
    listens: np.ndarray,
    artist_code: np.ndarray,
    *,
    ridge: float,
    artist_listens: float,
    blend_listens: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every track's factors: its own blended with its content-and-artist prior.

    Returns
    -------
    item_factors : numpy.ndarray
        ``[n_tracks, factors]`` float32.
    projection : numpy.ndarray
        The content regression (:func:`content_projection`).
    artist_listens : numpy.ndarray
        Listeners per artist.
    """
    n = listens.astype(np.float32)
    projection = content_projection(x, item_cf, listens, ridge=ridge)
    predicted = (np.hstack([x, np.ones((len(n), 1), np.float32)]) @ projection).astype(
        np.float32, copy=False
    )
    a_mean, a_n = artist_means(item_cf, listens, artist_code)
    has = artist_code >= 0
    safe = np.where(has, artist_code, 0)
    wa = np.where(has, a_n[safe] / (a_n[safe] + artist_listens), 0.0).astype(np.float32)
    # float32 and in place: at a million tracks each [n_tracks, factors] temporary is 256 MB,
    # and allocating them cost more than the arithmetic.
    prior = a_mean[safe]
    prior *= wa[:, None]
    predicted *= (1 - wa)[:, None]
    prior += predicted
    wb = (n / (n + blend_listens)).astype(np.float32)[:, None]
    blended = item_cf * wb
    prior *= 1 - wb
    blended += prior
    return blended, projection, a_n
