"""The hybrid recommender: content for cold tracks, ALS where listens exist, a blend between them.

A score is ``user_factors @ item_factors + taste @ content + bias``, with the blend's weights learned
on the catalogue's own events (:mod:`~audiotaste.recommend.blend`) or fixed
(:mod:`~audiotaste.recommend.cold`); being one inner product, one approximate nearest-neighbour
index (IVF, or voyager's HNSW) serves large catalogues.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from audiotaste.errors import InputError, ModelError
from audiotaste.recommend.blend import (
    Blend,
    item_model,
    kinds_of,
    learn_blend_for,
    offset_and_shares,
    taste_vectors,
)
from audiotaste.recommend.cold import blended_factors
from audiotaste.recommend.collaborative import als, confidence, fold_in
from audiotaste.recommend.content import ContentSpace
from audiotaste.recommend.events import (
    MatchReport,
)
from audiotaste.recommend.explain import (
    readable_name,
    recommendation_frame,
    similar_tracks,
)
from audiotaste.recommend.profile import HALF_LIFE_DAYS, SKIP_S, evidence, evidence_matrices
from audiotaste.recommend.retrieval import build_index as build_ann_index
from audiotaste.recommend.retrieval import default_picks, fair_top, index_nbytes, search
from audiotaste.recommend.store import load_model, save_model
from audiotaste.recommend.tracks import catalogue_events, lookup, pad_rows, track_arrays

__all__ = ["Recommender", "check_fitted", "readable_name"]


class Recommender:
    """Hybrid content + collaborative recommender with reasons.

    Parameters
    ----------
    factors
        ALS latent dimensions.
    regularization
        ALS L2 penalty.
    iterations
        ALS sweeps.
    alpha
        Confidence per unit of evidence (a full listen is 1, an early skip -1).
    half_life_days
        Recency half-life of the evidence, days.
    skip_s
        Plays shorter than this (seconds) count as skips.
    blend_listens
        Listeners at which a track's own ALS factors and its content/artist prior weigh the same.
    artist_listens
        Listeners of an artist at which its mean factors and the content prediction weigh the same
        in a new track's prior.
    content_weight
        Weight of the cosine between a track's sound and the listener's taste vector.
    ridge
        L2 penalty of the content-to-factors regression.
    blend
        ``"learned"``: weights fitted on the last week of the training events (falls back to
        ``"fixed"``, noted in ``blend_report_``, when the history is too short); ``"fixed"``: the
        constants ``blend_listens``, ``artist_listens`` and ``content_weight``.
    ann_min_tracks
        Catalogues at least this large are searched approximately instead of exactly.
    ann
        ``"ivf"``: an inverted-file index (:class:`~audiotaste.recommend.ann.IVFIndex`; k-means
        lists, exact scores within the ``n_probe`` best); ``"voyager"``: Spotify's HNSW graph.
        IVF reached recall@50 0.99 at 1M tracks within the latency target where voyager did not
        (docs/BENCHMARKS.md ``## recommend``).
    n_lists
        IVF lists; 0 for about ``2 sqrt(n_tracks)``.
    n_probe
        IVF lists read per query: more is slower and closer to exact.
    query_ef
        voyager's search breadth; raised to the number of results asked for when smaller.
    random_state
        Seed of the ALS initialisation.
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        iterations: int = 15,
        alpha: float = 10.0,
        half_life_days: float = HALF_LIFE_DAYS,
        skip_s: float = SKIP_S,
        blend_listens: float = 10.0,
        artist_listens: float = 10.0,
        content_weight: float = 0.5,
        ridge: float = 1.0,
        blend: str = "learned",
        ann_min_tracks: int = 200_000,
        ann: str = "ivf",
        n_lists: int = 0,
        n_probe: int = 64,
        query_ef: int = 800,
        random_state: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.half_life_days = half_life_days
        self.skip_s = skip_s
        self.blend_listens = blend_listens
        self.artist_listens = artist_listens
        self.content_weight = content_weight
        self.ridge = ridge
        self.blend = blend
        self.ann_min_tracks = ann_min_tracks
        self.ann = ann
        self.n_lists = n_lists
        self.n_probe = n_probe
        self.query_ef = query_ef
        self.random_state = random_state
        self._index: Any = None
        self._lookup: dict[str, tuple[np.ndarray, pd.Index]] = {}
        self.match_report_: MatchReport | None = None

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, as ``save`` keeps them."""
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {p: getattr(self, p) for p in names}

    # ------------------------------------------------------------------------------------------
    def fit(self, events: pd.DataFrame, tracks: pd.DataFrame) -> Recommender:
        """Learn from listening events and a tracks frame (any subset of the catalogue columns).

        Events for tracks not in ``tracks`` are dropped and counted in ``fit_report_``.
        """
        if "track_id" not in tracks:
            raise InputError(None, "the tracks frame has no track_id column")
        tracks = tracks.drop_duplicates("track_id").reset_index(drop=True)
        self.content_, self.X_ = ContentSpace.fit_transform(tracks)
        (
            self.track_ids_,
            self.duration_s_,
            self.artist_,
            self.title_,
            self.path_,
            self.artist_code_,
            self.tag_names_,
            self.tags_,
            self.tag_mean_,
        ) = track_arrays(tracks).values()
        ev, items = self._known_events(events, tracks)
        users, uniques = pd.factorize(ev["user_id"], sort=True)
        self.user_ids_ = np.asarray(uniques, dtype=str)
        self.ref_time_ = ev["timestamp"].max() if len(ev) else pd.Timestamp.now(tz="UTC")
        self.evidence_, self.plays_ = self._matrices(ev, users, items, len(self.user_ids_))
        self.blend_, self.blend_report_ = self._learn_blend(ev, users, items)
        self._refit()
        return self

    def _learn_blend(
        self, ev: pd.DataFrame, users: np.ndarray, items: np.ndarray
    ) -> tuple[Blend | None, dict[str, Any]]:
        if self.blend not in ("learned", "fixed"):
            raise InputError(None, f"unknown blend {self.blend!r}: use 'learned' or 'fixed'")
        if self.blend == "fixed":
            return None, {"blend": "fixed"}
        w = evidence(
            ev,
            self.duration_s_[items],
            skip_s=self.skip_s,
            half_life_days=self.half_life_days,
            ref_time=self.ref_time_,
        ).astype(np.float32)
        return learn_blend_for(self, users, items, ev["timestamp"], w)

    def _als_params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "iterations": self.iterations,
            "random_state": self.random_state,
        }

    def _known_events(
        self, events: pd.DataFrame, tracks: pd.DataFrame | None = None
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Cleaned events of catalogue tracks and their track indices; sets ``fit_report_``.

        Imported plays that name their track by Spotify URI, ISRC or artist + title (columns
        ``uri``, ``isrc``, ``artist_name`` / ``track_name``) are matched to the catalogue first
        (:func:`~audiotaste.recommend.events.match_tracks`; ``match_report_`` says how).
        """
        if tracks is None:
            names = ("track_id", "artist", "title", "path")
            arrays = (self.track_ids_, self.artist_, self.title_, self.path_)
            tracks = pd.DataFrame(dict(zip(names, arrays, strict=True)))
        ev, items, self.fit_report_, self.match_report_ = catalogue_events(
            events, tracks, self._positions("track_ids_")
        )
        return ev, items

    def _matrices(
        self, ev: pd.DataFrame, u: np.ndarray, i: np.ndarray, n_users: int
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        return evidence_matrices(
            ev,
            u,
            i,
            (n_users, len(self.track_ids_)),
            self.duration_s_[i],
            skip_s=self.skip_s,
            half_life_days=self.half_life_days,
            ref_time=self.ref_time_,
        )

    def _refit(self) -> None:
        conf = confidence(self.evidence_, self.alpha)
        n_users, n_items = conf.shape
        if conf.nnz:
            self.user_factors_, self.item_cf_ = als(conf, **self._als_params())
        else:
            self.user_factors_ = np.zeros((n_users, self.factors), np.float32)
            self.item_cf_ = np.zeros((n_items, self.factors), np.float32)
        self._update_items()
        self.taste_ = self._taste(np.arange(n_users))
        self._center()

    def _center(self) -> None:
        """Centre a learned blend's log-odds and share the list between kinds (see blend)."""
        self.score_offset_, self.kind_share_ = offset_and_shares(self)
        self.bias_ -= np.float32(self.score_offset_)

    def _update_items(self) -> None:
        """Recompute listener counts, the content regression, artist priors and blended factors."""
        pos = self.evidence_.copy()
        pos.data = (pos.data > 0).astype(np.float32)
        self.listens_ = np.asarray(pos.sum(0)).ravel().astype(np.int64)
        self.item_factors_, self.Xw_, self.bias_, self.projection_, self.artist_listens_ = (
            item_model(
                self.blend_,
                x=self.X_,
                dim_groups=self.content_.groups,
                item_cf=self.item_cf_,
                listens=self.listens_,
                artist_code=self.artist_code_,
                ridge=self.ridge,
                artist_listens=self.artist_listens,
                blend_listens=self.blend_listens,
                content_weight=self.content_weight,
            )
        )
        self.kind_ = kinds_of(self.listens_, self.artist_code_, self.artist_listens_)
        self._index = None

    def _taste(self, users: np.ndarray) -> np.ndarray:
        """Unit taste vectors in content space: evidence-weighted mean of played tracks."""
        return taste_vectors(self.evidence_[users], self.X_)

    # ------------------------------------------------------------------------------------------
    def partial_fit(self, new_events: pd.DataFrame) -> Recommender:
        """Add events without a full refit: listeners' and tracks' factors are re-solved in place.

        New listeners are added; events for unknown tracks are dropped (``fit_report_``). Tracks
        that got listens are re-solved against the listeners: a cold track warms up when played."""
        ev, items = self._known_events(new_events)
        if ev.empty:
            return self
        new_users = np.setdiff1d(ev["user_id"].unique().astype(str), self.user_ids_)
        if len(new_users):
            self.user_ids_ = np.concatenate([self.user_ids_, new_users])
            self.evidence_, self.plays_ = (
                pad_rows(m, len(new_users)) for m in (self.evidence_, self.plays_)
            )
            self.user_factors_, self.taste_ = (
                pad_rows(m, len(new_users)) for m in (self.user_factors_, self.taste_)
            )
        users = self._positions("user_ids_").get_indexer(ev["user_id"])
        s, p = self._matrices(ev, users, items, len(self.user_ids_))
        self.evidence_ = (self.evidence_ + s).tocsr()
        self.plays_ = (self.plays_ + p).tocsr()
        users, items = np.unique(users), np.unique(items)
        conf = confidence(self.evidence_, self.alpha)
        # ALS's scale (own factors, or a cold track's prior), as the blend's weights were learned
        prior = blended_factors(
            self.X_, self.item_cf_, self.listens_, self.artist_code_, ridge=self.ridge,
            artist_listens=self.artist_listens, blend_listens=self.blend_listens)[0]  # fmt: skip
        self.user_factors_[users] = fold_in(prior, conf[users], self.regularization)
        played_by = conf.T.tocsr()[items]
        self.item_cf_[items] = fold_in(self.user_factors_, played_by, self.regularization)
        self._update_items()
        self.taste_[users] = self._taste(users)
        self._center()
        return self

    # ------------------------------------------------------------------------------------------
    def score(self, users: Sequence[str], track_ids: Sequence[str] | None = None) -> np.ndarray:
        """Scores ``[n_users, n_tracks]`` of the named tracks (all tracks when ``None``), exact."""
        check_fitted(self)
        u = self._user_index(users)
        items = None if track_ids is None else self._track_index(track_ids)
        return self._score(u, items)

    def _score(self, u: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        """Scores ``[len(u), n_items]`` (``items=None``: every track, its factors not copied)."""
        out, content = self._score_parts(u, items)
        out += content
        out += self.bias_ if items is None else self.bias_[items]
        return out

    def _score_parts(self, u: np.ndarray, items: np.ndarray | None = None) -> list[np.ndarray]:
        """``_score`` less the bias, as [collaborative, content]; Discovery reads them apart."""
        f = self.item_factors_ if items is None else self.item_factors_[items]
        x = self.Xw_ if items is None else self.Xw_[items]
        return [self.user_factors_[u] @ f.T, self.taste_[u] @ x.T]

    def recommend(
        self,
        user: str | None,
        n: int = 10,
        candidates: Iterable[str] | None = None,
        exclude_seen: bool = True,
    ) -> pd.DataFrame:
        """Top ``n`` tracks for ``user``, best first.

        Parameters
        ----------
        user
            A listener seen in ``fit``/``partial_fit``; ``None`` for a new listener with no history
            (a popularity-and-variety default, labelled as such in ``reason``).
        candidates
            Track ids to choose from (default: the whole catalogue).
        exclude_seen
            Leave out tracks the listener has played.

        Returns
        -------
        pandas.DataFrame
            ``track_id``, ``score``, ``reason``, ``collab_score``, ``content_score``, ``listens``,
            ``artist``, ``title``.

        Raises
        ------
        InputError
            Unknown ``user`` or unknown candidate ids.
        """
        check_fitted(self)
        items = None if candidates is None else self._track_index(list(candidates))
        if user is None:
            return self._default(n, items)
        u = int(self._user_index([user])[0])
        seen = _row(self.plays_, u)[0] if exclude_seen else np.zeros(0, np.int64)
        if items is None and len(self.track_ids_) >= self.ann_min_tracks:
            # a learned blend shares the list out between kinds of track: retrieve more to share
            pool, sc_all = self._ann(u, n if self.blend_ is None else 10 * n, seen)
        else:
            pool = np.arange(len(self.track_ids_)) if items is None else items
            sc_all = self._score(np.array([u]), pool)[0]
        sc_all[np.isin(pool, seen)] = -np.inf
        kind = None if self.blend_ is None else self.kind_[pool]
        top = fair_top(sc_all, kind, n, self.kind_share_)
        idx, sc = pool[top], sc_all[top]
        order = np.argsort(-sc, kind="stable")
        return self._frame(u, idx[order], sc[order])

    def recommend_many(
        self,
        users: Iterable[str],
        n: int = 10,
        candidates: Iterable[str] | None = None,
        exclude_seen: bool = True,
    ) -> pd.DataFrame:
        """``recommend`` for several listeners: ``user_id``, ``rank`` (1-based) and its columns."""
        cands = None if candidates is None else list(candidates)
        frames = [
            self.recommend(u, n, cands, exclude_seen).pipe(
                lambda f, u=u: f.assign(user_id=u, rank=np.arange(1, len(f) + 1))
            )
            for u in users
        ]
        if not frames:
            return pd.DataFrame(columns=["user_id", "rank", "track_id", "score", "reason"])
        out = pd.concat(frames, ignore_index=True)
        return out[["user_id", "rank", *[c for c in out.columns if c not in ("user_id", "rank")]]]

    def similar(self, track_id: str, n: int = 10) -> pd.DataFrame:
        """Tracks closest to ``track_id`` in listening pattern and sound: ``track_id``, ``score``
        (mean of the factor and content cosines), ``reason``."""
        check_fitted(self)
        idx, sc, reasons = similar_tracks(self, int(self._track_index([track_id])[0]), n)
        return pd.DataFrame({"track_id": self.track_ids_[idx], "score": sc, "reason": reasons})

    # ------------------------------------------------------------------------------------------
    def _ann(self, u: int, n: int, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` unseen tracks by score through the ANN index, with their exact scores."""
        q = np.concatenate([self.user_factors_[u], self.taste_[u], [1.0]])
        ids = search(
            self.build_index(),
            q,
            n,
            seen=seen,
            n_tracks=len(self.track_ids_),
            n_probe=self.n_probe,
            query_ef=self.query_ef,
        )
        # Scored again the way exact search scores, so both paths order ties alike.
        return ids, self._score(np.array([u]), ids)[0]

    def build_index(self) -> Any:
        """Build the ANN index now (it is otherwise built on the first large-catalogue query) and
        return it; kept by :meth:`save`."""
        check_fitted(self)
        if self._index is None:
            # IVF lists split along what listeners' queries weigh (see IVFIndex.build).
            rng = np.random.default_rng(self.random_state)
            users = rng.choice(len(self.user_ids_), min(len(self.user_ids_), 20_000), replace=False)
            ones = np.ones((len(users), 1), np.float32)
            queries = np.hstack([self.user_factors_[users], self.taste_[users], ones])
            self._index = build_ann_index(
                np.hstack([self.item_factors_, self.Xw_, self.bias_[:, None]]).astype(np.float32),
                kind=self.ann,
                queries=queries if len(users) else None,
                n_lists=self.n_lists,
                random_state=self.random_state,
            )
        return self._index

    def index_bytes(self) -> int:
        """Memory of the ANN index once built, bytes (0 when there is none)."""
        return index_nbytes(self._index)

    def _default(self, n: int, items: np.ndarray | None) -> pd.DataFrame:
        pool = np.arange(len(self.track_ids_)) if items is None else items
        idx, sc, reasons = default_picks(self.listens_, self.X_, pool, n)
        return self._frame(None, idx, sc, reasons)

    def _frame(
        self, u: int | None, idx: np.ndarray, sc: np.ndarray, reasons: list[str] | None = None
    ) -> pd.DataFrame:
        return recommendation_frame(self, u, idx, sc, reasons)

    def _positions(self, name: str) -> pd.Index:
        """A hashed index of ``user_ids_`` or ``track_ids_``, rebuilt only when the array changes:
        building one over a million ids per query would cost more than the query."""
        ids = getattr(self, name)
        cached = self._lookup.get(name)
        if cached is None or cached[0] is not ids:
            cached = (ids, pd.Index(ids))
            self._lookup[name] = cached
        return cached[1]

    def _user_index(self, users: Sequence[str]) -> np.ndarray:
        return lookup(
            self._positions("user_ids_"),
            users,
            "unknown listener(s) {}: not in the events this model was fitted on "
            f"({len(self.user_ids_)} listeners); use user=None for a new listener's default",
        )

    def _track_index(self, track_ids: Sequence[str]) -> np.ndarray:
        return lookup(
            self._positions("track_ids_"),
            track_ids,
            "unknown track id(s) {}: not in the tracks this model was fitted on",
        )

    # ------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``config.json``, ``arrays.npz`` (no pickle) and, once built, the ANN index
        (``index.npz`` for IVF, ``index.voyager``) to the directory ``path``."""
        check_fitted(self)
        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recommender:
        """Read a model written by :meth:`save`."""
        return load_model(cls, path)


def _row(m: sp.csr_matrix, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of row ``r`` of a CSR matrix, without scipy's slicing overhead."""
    lo, hi = m.indptr[r], m.indptr[r + 1]
    return m.indices[lo:hi], m.data[lo:hi]


def check_fitted(rec: Recommender) -> None:
    if not hasattr(rec, "item_factors_"):
        raise ModelError(None, "this Recommender is not fitted yet: call fit(events, tracks) first")
