from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from audiotaste.recommend.ann import IVFIndex, default_lists


def _clustered(n: int, d: int, centers: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, d)) * 3
    return (c[rng.integers(0, centers, n)] + rng.normal(size=(n, d))).astype(np.float32)


def _exact(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    s = x @ q
    return np.argsort(-s, kind="stable")[:k]


def test_all_lists_probed_is_exact_search() -> None:
    x = _clustered(3000, 12, 10, 0)
    index = IVFIndex.build(x, 40, random_state=0)
    assert index.n_lists == 40 and sorted(index.ids.tolist()) == list(range(3000))
    q = np.random.default_rng(1).normal(size=12).astype(np.float32)
    ids, scores = index.search(q, 25, n_probe=40)
    np.testing.assert_array_equal(np.sort(ids), np.sort(_exact(x, q, 25)))
    np.testing.assert_allclose(scores, x[ids] @ q, rtol=1e-5)
    assert np.all(np.diff(scores) <= 0)


def test_few_lists_probed_reach_high_recall_and_read_less() -> None:
    x = _clustered(20_000, 16, 50, 2)
    index = IVFIndex.build(x, random_state=0)
    assert index.n_lists == default_lists(20_000) == 283
    qs = np.random.default_rng(3).normal(size=(50, 16)).astype(np.float32)
    recall = [len(set(index.search(q, 50, n_probe=20)[0]) & set(_exact(x, q, 50))) / 50 for q in qs]
    assert np.mean(recall) >= 0.95
    # ...while one list is far from enough: the probe count is what buys recall.
    one = [len(set(index.search(q, 50, n_probe=1)[0]) & set(_exact(x, q, 50))) / 50 for q in qs]
    assert np.mean(one) < np.mean(recall)


def test_exclude_and_small_inputs() -> None:
    x = _clustered(200, 4, 3, 4)
    index = IVFIndex.build(x, 5)
    q = np.ones(4, np.float32)
    best = _exact(x, q, 3)
    ids, _ = index.search(q, 2, n_probe=5, exclude=best[:1])
    assert best[0] not in ids and ids.tolist() == best[1:3].tolist()
    # More results asked than stored; more lists than vectors; nothing at all.
    assert len(index.search(q, 500, n_probe=99)[0]) == 200
    tiny = IVFIndex.build(x[:3], 10)
    assert tiny.n_lists == 3 and len(tiny.search(q, 5, 3)[0]) == 3
    empty = IVFIndex.build(np.zeros((0, 4), np.float32))
    assert len(empty.search(q, 5, 1)[0]) == 0


def test_query_metric_splits_lists_along_what_queries_weigh() -> None:
    # Dimension 0 is tiny but is all the queries look at; dimension 1 is large noise they ignore.
    rng = np.random.default_rng(6)
    x = np.column_stack([rng.normal(size=4000) * 0.05, rng.normal(size=4000) * 5]).astype(
        np.float32
    )
    queries = np.column_stack([rng.choice([-1.0, 1.0], 200), np.zeros(200)])
    q = np.array([1.0, 0.0], np.float32)
    best = set(_exact(x, q, 50).tolist())
    weighted = IVFIndex.build(x, 20, queries=queries)
    plain = IVFIndex.build(x, 20)
    assert len(best & set(weighted.search(q, 50, 2)[0].tolist())) >= 48
    assert len(best & set(plain.search(q, 50, 2)[0].tolist())) < 40
    # Queries that are all zero give no metric: the Euclidean lists, not one list of everything.
    zero = IVFIndex.build(x, 20, queries=np.zeros((5, 2)))
    assert np.diff(zero.offsets).max() < 1000


def test_save_load_round_trip_and_bad_files(tmp_path: Path) -> None:
    x = _clustered(500, 6, 4, 5)
    index = IVFIndex.build(x, 10)
    index.save(tmp_path / "i.npz")
    loaded = IVFIndex.load(tmp_path / "i.npz")
    q = np.arange(6, dtype=np.float32)
    for a, b in zip(index.search(q, 10, 3), loaded.search(q, 10, 3), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.to_dict() == index.to_dict() and index.to_dict()["n"] == 500
    np.savez(tmp_path / "other.npz", centroids=np.zeros((2, 6)))
    with pytest.raises(ValueError, match="not an"):
        IVFIndex.load(tmp_path / "other.npz")
    with np.load(tmp_path / "i.npz") as z:
        parts = dict(z)
    parts["offsets"] = parts["offsets"][::-1]
    np.savez(tmp_path / "bad.npz", **parts)
    with pytest.raises(ValueError, match="inconsistent"):
        IVFIndex.load(tmp_path / "bad.npz")


@settings(max_examples=40, deadline=None)
@given(
    x=arrays(
        np.float32,
        st.tuples(st.integers(1, 60), st.integers(1, 5)),
        elements=st.floats(-100, 100, width=32),
    ),
    n_lists=st.integers(1, 12),
    k=st.integers(1, 70),
)
def test_full_probe_matches_brute_force(x: np.ndarray, n_lists: int, k: int) -> None:
    index = IVFIndex.build(x, n_lists)
    q = np.linspace(-1, 1, x.shape[1]).astype(np.float32)
    ids, scores = index.search(q, k, n_probe=n_lists)
    assert len(ids) == min(k, len(x)) and len(set(ids.tolist())) == len(ids)
    # Ties make ids ambiguous; the scores of the top k are not.
    np.testing.assert_allclose(scores, np.sort(x @ q)[::-1][: len(ids)], rtol=1e-4, atol=1e-3)
