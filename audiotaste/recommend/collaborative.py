"""Implicit-feedback matrix factorisation (the ``implicit`` library's ALS) and exact fold-in."""

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
    """Fit the ``implicit`` library's ALS (conjugate gradient, multi-threaded) on a users x items
    confidence matrix; returns ``(user_factors, item_factors)`` as float32."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

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
