from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from audiotaste.recommend.collaborative import _cg_side, als, als_numpy, confidence, fold_in


def test_numpy_als_conjugate_gradient_reaches_the_exact_solve() -> None:
    m = sp.random(200, 300, density=0.05, format="csr", dtype=np.float32, random_state=0)
    m.data = np.where(np.random.default_rng(0).random(m.nnz) < 0.2, -1.0, 1.0).astype(np.float32)
    c = confidence(m, 10.0)
    users, items = als_numpy(c, factors=8, regularization=0.05, iterations=5, random_state=0)
    exact = fold_in(items, c, 0.05)
    np.testing.assert_allclose(
        _cg_side(users, items, c, 0.05, 30), exact, atol=1e-3 * np.abs(exact).max()
    )
    # ALS fits the observed preferences: liked cells score above skipped ones.
    pred = users @ items.T
    assert pred[m.toarray() > 0].mean() > 0.5 > pred[m.toarray() < 0].mean()


def test_implicit_and_numpy_als_agree_on_what_is_liked() -> None:
    m = sp.random(150, 200, density=0.08, format="csr", dtype=np.float32, random_state=1)
    c = confidence(m, 10.0)
    liked = []
    for fit in (als, als_numpy):
        u, i = fit(c, factors=8, regularization=0.05, iterations=8, random_state=0)
        pred = u @ i.T
        liked.append(pred[m.toarray() > 0].mean())
        assert liked[-1] > 2 * np.abs(pred[m.toarray() == 0]).mean()
    assert abs(liked[0] - liked[1]) < 0.05
