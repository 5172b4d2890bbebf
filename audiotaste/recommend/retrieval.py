"""Approximate top-n retrieval for large catalogues: an IVF index or voyager's HNSW graph.

A listener's score for a track is an inner product of ``[user factors, content_weight * taste]``
with ``[item factors, content]`` (see :mod:`audiotaste.recommend.recommender`), so one maximum
inner-product index serves the whole hybrid.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from audiotaste.errors import InputError
from audiotaste.recommend.ann import IVFIndex

#: Index kinds :func:`build_index` knows.
KINDS = ("ivf", "voyager")


def build_index(
    items: np.ndarray,
    *,
    kind: str = "ivf",
    queries: np.ndarray | None = None,
    n_lists: int = 0,
    random_state: int = 0,
) -> Any:
    """An inner-product index over ``items`` ``[n_tracks, d]``.

    Parameters
    ----------
    items
        Track vectors, float32.
    kind
        ``"ivf"`` (:class:`~audiotaste.recommend.ann.IVFIndex`) or ``"voyager"`` (HNSW).
    queries
        A sample of listeners' query vectors: IVF splits its lists along what they weigh.
    n_lists
        IVF lists; 0 for about ``2 sqrt(n_tracks)``.
    random_state
        Seed.
    """
    if kind == "ivf":
        return IVFIndex.build(items, n_lists or None, queries=queries, random_state=random_state)
    if kind != "voyager":
        raise InputError(None, f"unknown ann {kind!r}: use one of {', '.join(KINDS)}")
    from voyager import Index, Space

    norms = np.linalg.norm(items, axis=1)
    max_norm = float(norms.max()) if len(norms) else 1.0
    # Adding sqrt(M^2 - |z|^2) makes every item the same length, so nearest in Euclidean distance
    # is largest inner product (Bachrach et al. 2014).
    z = np.hstack([items, np.sqrt(np.clip(max_norm**2 - norms**2, 0, None))[:, None]]).astype(
        np.float32
    )
    index = Index(
        Space.Euclidean,
        num_dimensions=z.shape[1],
        # Denser than voyager's defaults: M 16 / ef_construction 100 reached recall@50 0.84 at best
        # in bench_recommend.py ann, M 32 / 200 0.92 at query_ef 800.
        M=32,
        ef_construction=200,
        random_seed=random_state,
    )
    index.add_items(z, ids=np.arange(len(z)), num_threads=-1)
    return index


def search(
    index: Any,
    query: np.ndarray,
    n: int,
    *,
    seen: np.ndarray,
    n_tracks: int,
    n_probe: int = 64,
    query_ef: int = 800,
) -> np.ndarray:
    """Ids of (about) the ``n`` best tracks for ``query`` that are not in ``seen``."""
    if isinstance(index, IVFIndex):
        ids, _ = index.search(query, n, n_probe, exclude=seen)
        return np.asarray(ids, np.int64)
    k = min(n + len(seen), n_tracks)
    found, _ = index.query(np.append(query, 0.0).astype(np.float32), k=k, query_ef=max(query_ef, k))
    return np.asarray(found, np.int64)


def index_nbytes(index: Any) -> int:
    """Memory of a built index, bytes (0 for ``None``)."""
    if index is None:
        return 0
    if isinstance(index, IVFIndex):
        return int(index.nbytes)
    return len(index.as_bytes())


def default_picks(
    listens: np.ndarray, x: np.ndarray, pool: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Tracks for a listener without history: the most played of ``pool``, or, when nobody has
    played anything, tracks spread over the catalogue's sound (farthest-point picks).

    Returns
    -------
    idx, score, reasons
        Track indices, their scores (log listeners, or 0) and the labelled reason of each.
    """
    if listens[pool].max(initial=0) > 0:
        sc = np.log1p(listens[pool]).astype(np.float64)
        order = np.argsort(-sc, kind="stable")[:n]
        reason = "popular here ({} listeners); a default: you have no listening history yet"
        return pool[order], sc[order], [reason.format(listens[pool[j]]) for j in order]
    chosen = [0] if len(pool) and n > 0 else []
    dist = 1 - x[pool] @ x[pool[0]] if chosen else np.zeros(0)
    while 0 < len(chosen) < min(n, len(pool)):
        j = int(np.argmax(dist))
        chosen.append(j)
        dist = np.minimum(dist, 1 - x[pool] @ x[pool[j]])
    reasons = ["a spread across the catalogue; a default: you have no listening history yet"]
    return pool[chosen], np.zeros(len(chosen)), reasons * len(chosen)


def fair_top(score: np.ndarray, kind: np.ndarray | None, n: int, share: np.ndarray) -> np.ndarray:
    """Positions of ``n`` tracks to show, in order, the new tracks' slots shared out by merit.

    The ``n`` best scores decide which slots go to tracks with listens (kind 0) and which to
    tracks without (kinds 1, new by a known artist, and 2, by a debut artist). The slots without
    listens are then given, prefix by prefix, to each such kind in proportion to its ``share``
    (its share of the catalogue's expected liked tracks), each filled by its own best scores: a
    kind whose model is less sure of itself (debut artists, known only by their sound) is not
    crowded out by a sharper one (known artists, with their listeners' factors) when it holds as
    much that is liked -- exposure in proportion to merit (Singh & Joachims 2018). Without
    ``kind``, the ``n`` best scores. ``-inf`` scores are never chosen.
    """
    ok = np.isfinite(score)
    n = min(n, int(ok.sum()))
    if n <= 0:
        return np.zeros(0, np.int64)
    top = np.argpartition(-score, n - 1)[:n]
    top = top[np.argsort(-score[top], kind="stable")]
    if kind is None:
        return top
    slots = np.flatnonzero(kind[top] != 0)
    kinds = np.unique(kind[ok & (kind != 0)])
    if len(slots) == 0 or len(kinds) < 2:
        return top
    queues = []
    for k in kinds:
        pos = np.flatnonzero((kind == k) & ok)
        m = min(len(slots), len(pos))
        best = pos[np.argpartition(-score[pos], m - 1)[:m]]
        queues.append(best[np.argsort(-score[best], kind="stable")])
    want = np.asarray(share, float)[kinds]
    want = want / want.sum() if want.sum() > 0 else np.full(len(kinds), 1 / len(kinds))
    taken = np.zeros(len(kinds), int)
    sizes = np.array([len(q) for q in queues])
    for t, slot in enumerate(slots):
        deficit = np.where(taken < sizes, want * (t + 1) - taken, -np.inf)
        j = int(np.argmax(deficit))
        top[slot] = queues[j][taken[j]]
        taken[j] += 1
    return top
