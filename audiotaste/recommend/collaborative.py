"""Implicit-feedback matrix factorisation (the ``implicit`` library's ALS, or our numpy ALS) and fold-in."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def confidence(signed: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """ALS confidences from signed evidence: ``1 + alpha * |s|``, negative where ``s < 0``.

    ``implicit`` reads a negative confidence as "preference 0 with that confidence", which is how an
    early skip should count: stronger than a track never offered.
    """
    c = signed.copy().astype(np.float32)
    c.data = np.sign(c.data) * (1.0 + alpha * np.abs(c.data))
    c.eliminate_zeros()
    return c


def als(
    conf: sp.csr_matrix,
    *,
    factors: int,
    regularization: float,
    iterations: int,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ALS on a users x items confidence matrix; returns ``(user_factors, item_factors)``.

    Uses the ``implicit`` library (conjugate-gradient ALS, multi-threaded) when it is installed and
    :func:`als_numpy` otherwise.
    """
    try:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits
    except ImportError:
        return als_numpy(
            conf,
            factors=factors,
            regularization=regularization,
            iterations=iterations,
            random_state=random_state,
        )

    # implicit runs its own threads; a BLAS thread pool inside them slows it down (and it warns).
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            iterations=iterations,
            random_state=random_state,
            calculate_training_loss=False,
        )
        model.fit(conf.tocsr(), show_progress=False)
    return np.asarray(model.user_factors, np.float32), np.asarray(model.item_factors, np.float32)


def als_numpy(
    conf: sp.csr_matrix,
    *,
    factors: int,
    regularization: float,
    iterations: int,
    random_state: int,
    cg_steps: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """The same implicit ALS in numpy (the fallback when ``implicit`` is absent).

    Each half-step runs ``cg_steps`` of conjugate gradient for all rows at once, warm-started from
    the previous factors (Takacs et al. 2011, as ``implicit`` does); the product with each row's
    matrix ``G + Y^T (C_u - I) Y`` is two sparse-dense products, never a ``k x k`` matrix per row.
    """
    rng = np.random.default_rng(random_state)
    user = (rng.standard_normal((conf.shape[0], factors)) * 0.01).astype(np.float32)
    item = (rng.standard_normal((conf.shape[1], factors)) * 0.01).astype(np.float32)
    by_item = conf.T.tocsr()
    for _ in range(iterations):
        user = _cg_side(user, item, conf, regularization, cg_steps)
        item = _cg_side(item, user, by_item, regularization, cg_steps)
    return user, item


def _cg_side(
    x: np.ndarray, y: np.ndarray, conf: sp.csr_matrix, reg: float, steps: int
) -> np.ndarray:
    gram = y.T @ y + reg * np.eye(y.shape[1], dtype=np.float32)
    rows = np.repeat(np.arange(conf.shape[0]), np.diff(conf.indptr))
    cols, c = conf.indices, conf.data
    extra = np.abs(c) - 1

    def apply(v: np.ndarray) -> np.ndarray:
        d = np.einsum("ij,ij->i", v[rows], y[cols])
        return v @ gram + sp.csr_matrix((extra * d, cols, conf.indptr), shape=conf.shape) @ y

    b = sp.csr_matrix((np.where(c > 0, c, 0), cols, conf.indptr), shape=conf.shape) @ y
    x = x.copy()
    r = b - apply(x)
    p = r.copy()
    rs = (r * r).sum(1)
    for _ in range(steps):
        ap = apply(p)
        step = rs / np.maximum((p * ap).sum(1), 1e-20)
        x += step[:, None] * p
        r -= step[:, None] * ap
        rs_new = (r * r).sum(1)
        p = r + (rs_new / np.maximum(rs, 1e-20))[:, None] * p
        rs = rs_new
    return x.astype(np.float32)


def fold_in(other: np.ndarray, conf: sp.csr_matrix, regularization: float) -> np.ndarray:
    """Exact ALS solve of one side's factors given the other side's, row by row.

    Parameters
    ----------
    other
        Fixed factors of the other side, ``[n_other, k]``.
    conf
        Confidences, ``[n_rows, n_other]`` (negative = preference 0).

    Returns
    -------
    numpy.ndarray
        ``[n_rows, k]`` factors.
    """
    k = other.shape[1]
    gram = other.T @ other + regularization * np.eye(k, dtype=np.float32)
    out = np.zeros((conf.shape[0], k), np.float32)
    for r in range(conf.shape[0]):
        lo, hi = conf.indptr[r], conf.indptr[r + 1]
        if lo == hi:
            continue
        y = other[conf.indices[lo:hi]]
        c = conf.data[lo:hi]
        a = gram + (y.T * (np.abs(c) - 1)) @ y
        b = (np.where(c > 0, c, 0)[:, None] * y).sum(0)
        out[r] = np.linalg.solve(a, b)
    return out
