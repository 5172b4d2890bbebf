"""Approximate maximum-inner-product search over a large catalogue: an inverted-file (IVF) index.

The catalogue's vectors are clustered with k-means into ``n_lists`` lists and stored contiguously,
list by list. A query scores the list centroids, then scores *exactly* every vector of the
``n_probe`` lists whose centroids score highest, and returns the best ``k`` of those. The only
approximation is which lists are read, so recall is a smooth, measurable function of ``n_probe``
(``scripts/bench_scale.py``), results carry exact scores, and building the index is a few k-means
passes of matrix products instead of a graph insertion per vector.

Why not the HNSW graph (voyager): on the recommender's inner-product vectors, reduced to Euclidean
by the usual extra norm coordinate, a graph search kept missing whole regions for some listeners
(recall@50 0.92 at 100k tracks with M 32 / query_ef 800, 0.82 at 1M with M 16), and building it took
40 minutes for 1M tracks on this 2-core machine. Measured side by side in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from audiotaste._io import atomic_path

FORMAT = "audiotaste.ivf/1"


def default_lists(n: int) -> int:
    """Number of lists for ``n`` vectors: about ``2 sqrt(n)`` (2,000 for a million), at least 1."""
    return max(1, min(n, int(round(2 * np.sqrt(n)))))


@dataclass(frozen=True)
class IVFIndex:
    """An inverted-file index for maximum inner product search.

    Attributes
    ----------
    centroids : numpy.ndarray
        ``[n_lists, d]`` float32, the mean of each list's vectors.
    offsets : numpy.ndarray
        ``[n_lists + 1]`` int64; list ``j`` holds rows ``offsets[j]:offsets[j + 1]``.
    ids : numpy.ndarray
        ``[n]`` int64, the caller's id of each stored row.
    vectors : numpy.ndarray
        ``[n, d]`` float32, the vectors in list order (C-contiguous, so a list is one slice).
    """

    centroids: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray
    vectors: np.ndarray

    @classmethod
    def build(
        cls,
        x: np.ndarray,
        n_lists: int | None = None,
        *,
        queries: np.ndarray | None = None,
        iterations: int = 10,
        sample: int = 64,
        random_state: int = 0,
    ) -> IVFIndex:
        """Cluster ``x`` (``[n, d]``) into lists; row ``i`` keeps id ``i``.

        Parameters
        ----------
        n_lists
            Number of lists (default :func:`default_lists`).
        queries
            ``[m, d]`` typical queries. When given, rows are clustered by the distance that
            matters for inner products with such queries, ``(a - b)^T E[q q^T] (a - b)``, instead
            of the Euclidean one: dimensions that queries weigh heavily split the lists, ones they
            ignore do not (a recommender's factor dimensions may be 10x smaller than its content
            dimensions yet carry most of the score).
        iterations
            Lloyd iterations of k-means, run on a sample of ``sample * n_lists`` rows; every row is
            then assigned to its nearest centroid once and the centroids recomputed from all rows.
        random_state
            Seed of the sample and the initial centroids.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        n, d = x.shape
        k = default_lists(n) if n_lists is None else max(1, min(int(n_lists), max(n, 1)))
        if n == 0:
            return cls(
                np.zeros((0, d), np.float32), np.zeros(1, np.int64), np.zeros(0, np.int64), x
            )
        rng = np.random.default_rng(random_state)
        root = None if queries is None else _sqrt_second_moment(queries)
        # All-zero queries (a model nobody has played anything in) carry no metric: Euclidean then.
        space = x if root is None or not np.any(root) else x @ root
        train = space[rng.choice(n, sample * k, replace=False)] if sample * k < n else space
        centroids = train[rng.choice(len(train), k, replace=False)].copy()
        for _ in range(iterations):
            centroids = _update(train, _assign(train, centroids), centroids, rng)
        labels = _assign(space, centroids)
        del space
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=k)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        # Centroids from every row, not just the sample (an empty list keeps its trained one).
        # Centroids in the original space (where queries score them), from every row.
        sums = _sums(x, labels, k)
        full = counts > 0
        centroids = np.zeros((k, d), np.float32)
        centroids[full] = sums[full] / counts[full, None]
        return cls(centroids, offsets, order.astype(np.int64), x[order])

    @property
    def n_lists(self) -> int:
        return len(self.centroids)

    @property
    def nbytes(self) -> int:
        """Memory held by the index, bytes."""
        return sum(a.nbytes for a in (self.centroids, self.offsets, self.ids, self.vectors))

    def search(
        self, q: np.ndarray, k: int, n_probe: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best ids by inner product with ``q`` among the ``n_probe`` best lists.

        Parameters
        ----------
        q
            ``[d]`` query.
        k
            Results wanted (fewer when the probed lists hold fewer vectors).
        n_probe
            Lists to read, best centroid score first.
        exclude
            Ids never returned (e.g. tracks the listener has played).

        Returns
        -------
        ids, scores : numpy.ndarray
            Best first; scores are exact inner products.
        """
        q = np.asarray(q, np.float32)
        n_probe = max(1, min(int(n_probe), self.n_lists))
        cs = self.centroids @ q
        # An empty list would waste a probe.
        cs[self.offsets[1:] == self.offsets[:-1]] = -np.inf
        probe = (
            np.argpartition(-cs, n_probe - 1)[:n_probe] if n_probe < len(cs) else np.arange(len(cs))
        )
        lo, hi = self.offsets[probe], self.offsets[probe + 1]
        total = int((hi - lo).sum())
        scores = np.empty(total, np.float32)
        rows = np.empty(total, np.int64)
        at = 0
        for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
            m = b - a
            if m:
                np.matmul(self.vectors[a:b], q, out=scores[at : at + m])
                rows[at : at + m] = np.arange(a, b)
                at += m
        ids = self.ids[rows]
        if exclude is not None and len(exclude):
            keep = ~np.isin(ids, exclude)
            ids, scores = ids[keep], scores[keep]
        k = min(k, len(ids))
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return ids[top], scores[top]

    def to_dict(self) -> dict[str, Any]:
        """Summary: sizes only (the arrays are saved with :meth:`save`)."""
        sizes = np.diff(self.offsets)
        return {
            "format": FORMAT,
            "n": int(len(self.ids)),
            "dims": int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0,
            "n_lists": self.n_lists,
            "largest_list": int(sizes.max(initial=0)),
            "bytes": self.nbytes,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the arrays to one ``.npz`` file (no pickle)."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                format=np.array(FORMAT),
                centroids=self.centroids,
                offsets=self.offsets,
                ids=self.ids,
                vectors=self.vectors,
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> IVFIndex:
        """Read an index written by :meth:`save`; ValueError when it is not one."""
        with np.load(Path(path), allow_pickle=False) as z:
            if "format" not in z.files or str(z["format"]) != FORMAT:
                raise ValueError(f"{path} is not an {FORMAT} index")
            out = cls(z["centroids"], z["offsets"], z["ids"], z["vectors"])
        n = len(out.ids)
        if (
            out.offsets[0] != 0
            or out.offsets[-1] != n
            or len(out.offsets) != len(out.centroids) + 1
            or np.any(np.diff(out.offsets) < 0)
            or out.vectors.shape[0] != n
        ):
            raise ValueError(f"{path}: inconsistent index arrays")
        return out


def _assign(x: np.ndarray, centroids: np.ndarray, batch: int = 32_768) -> np.ndarray:
    """Nearest centroid (Euclidean) of each row, in batches to bound memory."""
    cn = (centroids * centroids).sum(1)
    out = np.empty(len(x), np.int64)
    for i in range(0, len(x), batch):
        out[i : i + batch] = np.argmin(cn - 2 * (x[i : i + batch] @ centroids.T), axis=1)
    return out


def _update(
    x: np.ndarray, labels: np.ndarray, centroids: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    k = len(centroids)
    counts = np.bincount(labels, minlength=k)
    sums = _sums(x, labels, k)
    new = centroids.copy()
    full = counts > 0
    new[full] = sums[full] / counts[full, None]
    # An empty list gets a fresh random row, so no list stays dead.
    if (~full).any():
        new[~full] = x[rng.choice(len(x), int((~full).sum()), replace=False)]
    return new


def _sums(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """``[k, d]`` sum of the rows of each label (float32: a list sums a few thousand rows)."""
    # A 0/1 membership matrix times x sums each list in one sparse product (np.add.at is ~20x slower).
    member = sp.csr_matrix(
        (np.ones(len(x), np.float32), (labels, np.arange(len(x)))), shape=(k, len(x))
    )
    return np.asarray(member @ x, np.float32)


def _sqrt_second_moment(q: np.ndarray) -> np.ndarray:
    """``L`` with ``L L^T = E[q q^T]`` (symmetric square root), so ``|a L|^2 = E[(q . a)^2]``."""
    q = np.asarray(q, np.float64)
    m = q.T @ q / max(len(q), 1)
    w, v = np.linalg.eigh(m)
    return ((v * np.sqrt(np.clip(w, 0, None))) @ v.T).astype(np.float32)
