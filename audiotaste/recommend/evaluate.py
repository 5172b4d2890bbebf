"""Offline evaluation: a time split, ranking metrics, and beyond-accuracy metrics.

Protocol: train on everything before ``split``; the relevant tracks of a listener are those they
listened to at length (evidence > 0) after it. Rankings are made within a *slice* of candidate
tracks (e.g. only cold tracks, only warm tracks the listener has not played), so cold and warm
tracks are judged separately and a strong warm model cannot hide a weak cold one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audiotaste.recommend.profile import evidence

#: ``scorer(user_index_array, item_index_array) -> scores [n_users, n_items]``
Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def time_split(events: pd.DataFrame, split: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events before ``split`` and from ``split`` on."""
    before = events["timestamp"] < split
    return events[before].reset_index(drop=True), events[~before].reset_index(drop=True)


def relevant_items(test: pd.DataFrame, tracks: pd.DataFrame) -> pd.DataFrame:
    """``(user_id, track_id)`` pairs with positive evidence in the test events."""
    dur = (
        test["track_id"].map(tracks.set_index("track_id")["duration_s"])
        if "duration_s" in tracks
        else None
    )
    w = evidence(test, None if dur is None else dur.to_numpy(float), half_life_days=np.inf)
    pos = test.loc[w > 0, ["user_id", "track_id"]]
    return pos.drop_duplicates().reset_index(drop=True)


def relevant_by_index(
    test: pd.DataFrame, tracks: pd.DataFrame, user_ids: Sequence[object], track_ids: Sequence[object]
) -> dict[int, set[int]]:
    """:func:`relevant_items` as ``{user index: {track index, ...}}`` in a fitted model's orders
    (``user_ids``, ``track_ids``, e.g. ``rec.user_ids_``); listeners outside ``user_ids`` are left out."""
    rel = relevant_items(test, tracks)
    uidx, tidx = pd.Index(user_ids), pd.Index(track_ids)
    rel = rel[rel["user_id"].isin(uidx)]
    relevant: dict[int, set[int]] = {}
    for u, i in zip(uidx.get_indexer(rel["user_id"]), tidx.get_indexer(rel["track_id"]), strict=True):
        relevant.setdefault(int(u), set()).add(int(i))
    return relevant


@dataclass(frozen=True)
class SliceResult:
    """Metrics of one model on one slice (means over listeners with relevant tracks in it)."""

    model: str
    slice: str
    users: int
    recall_10: float
    recall_50: float
    ndcg_10: float
    coverage: float
    diversity: float
    novelty: float

    def to_dict(self) -> dict[str, float | int | str]:
        return dict(self.__dict__)


def evaluate_slice(
    scorer: Scorer,
    *,
    model: str,
    slice_name: str,
    users: Sequence[int],
    candidates: np.ndarray,
    relevant: Mapping[int, set[int]],
    seen: Mapping[int, set[int]] | None = None,
    features: np.ndarray,
    popularity: np.ndarray,
    n_users_total: int,
    batch: int = 256,
) -> SliceResult:
    """Rank ``candidates`` for each user that has relevant items among them and score the top 50.

    Parameters
    ----------
    users
        User indices (as the scorer understands them).
    candidates
        Item indices forming the slice.
    relevant, seen
        Per user: relevant item indices; items to leave out of their ranking (already played).
    features
        Unit content vectors of all items (for intra-list diversity, 1 - mean pairwise cosine).
    popularity
        Listeners per item over the whole log (novelty = mean -log2 of the share of listeners).
    """
    cand_set = set(candidates.tolist())
    users = [u for u in users if relevant.get(u, set()) & cand_set]
    rec10, rec50, ndcg, div, nov = [], [], [], [], []
    shown: set[int] = set()
    disc = 1.0 / np.log2(np.arange(2, 12))
    for b in range(0, len(users), batch):
        ub = np.asarray(users[b : b + batch])
        s = np.asarray(scorer(ub, candidates), np.float64)
        for r, u in enumerate(ub):
            row = s[r].copy()
            if seen and seen.get(u):
                row[np.isin(candidates, list(seen[u]))] = -np.inf
            top = candidates[np.argsort(-row, kind="stable")[:50]]
            rel = relevant[u] & cand_set
            hits = np.isin(top, list(rel))
            rec10.append(hits[:10].sum() / min(len(rel), 10))
            rec50.append(hits.sum() / min(len(rel), 50))
            ideal = disc[: min(len(rel), 10)].sum()
            ndcg.append(float((hits[:10] * disc).sum() / ideal))
            t10 = top[:10]
            shown.update(t10.tolist())
            f = features[t10]
            sim = f @ f.T
            m = len(t10)
            div.append(1 - (sim.sum() - np.trace(sim)) / max(m * (m - 1), 1))
            nov.append(float(np.mean(-np.log2((popularity[t10] + 1) / (n_users_total + 1)))))
    mean = lambda v: float(np.mean(v)) if v else float("nan")  # noqa: E731
    return SliceResult(
        model,
        slice_name,
        len(users),
        mean(rec10),
        mean(rec50),
        mean(ndcg),
        len(shown) / max(len(candidates), 1),
        mean(div),
        mean(nov),
    )
