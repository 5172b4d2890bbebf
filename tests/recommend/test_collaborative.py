from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from audiotaste.recommend.collaborative import als, confidence, fold_in


def test_als_fits_liked_above_skipped_and_fold_in_reproduces_a_half_step() -> None:
    m = sp.random(200, 300, density=0.05, format="csr", dtype=np.float32, random_state=0)
    m.data = np.where(np.random.default_rng(0).random(m.nnz) < 0.2, -1.0, 1.0).astype(np.float32)
    c = confidence(m, 10.0)
    users, items = als(c, factors=8, regularization=0.05, iterations=8, random_state=0)
    pred = users @ items.T
    dense = m.toarray()
    # ALS fits the observed preferences: liked cells score above skipped ones.
    assert pred[dense > 0].mean() > 0.5 > pred[dense < 0].mean()
    # An exact re-solve of the listeners against the fitted items stays as good a fit.
    again = fold_in(items, c, 0.05) @ items.T
    assert again[dense > 0].mean() > 0.5 > again[dense < 0].mean()


def test_confidence_keeps_the_sign_of_skips() -> None:
    m = sp.csr_matrix(np.array([[1.0, -1.0, 0.0]], np.float32))
    c = confidence(m, 10.0)
    np.testing.assert_allclose(c.toarray(), [[11.0, -11.0, 0.0]])
