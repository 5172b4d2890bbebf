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
    block: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """The same implicit ALS with exact solves in numpy: the fallback when ``implicit`` is absent.

    Blocks of rows are solved together: their Gram corrections are summed over non-zeros with
    ``np.add.reduceat`` and the ``k x k`` systems solved in one batched call.
    """
    rng = np.random.default_rng(random_state)
    user = (rng.standard_normal((conf.shape[0], factors)) * 0.01).astype(np.float32)
    item = (rng.standard_normal((conf.shape[1], factors)) * 0.01).astype(np.float32)
    by_item = conf.T.tocsr()
    for _ in range(iterations):
        user = _solve_side(item, conf, regularization, block)
        item = _solve_side(user, by_item, regularization, block)
    return user, item


def _solve_side(other: np.ndarray, conf: sp.csr_matrix, reg: float, block: int) -> np.ndarray:
    k = other.shape[1]
    gram = other.T @ other + reg * np.eye(k, dtype=np.float32)
    out = np.zeros((conf.shape[0], k), np.float32)
    for lo in range(0, conf.shape[0], block):
        sub = conf[lo : lo + block]
        rows = np.flatnonzero(np.diff(sub.indptr))
        if not len(rows):
            continue
        y = other[sub.indices]
        c = sub.data
        starts = sub.indptr[rows]
        a = np.add.reduceat(np.einsum("n,ni,nj->nij", np.abs(c) - 1, y, y), starts) + gram
        b = np.add.reduceat(np.where(c > 0, c, 0)[:, None] * y, starts)
        out[lo + rows] = np.linalg.solve(a, b[..., None])[..., 0]
    return out


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
