"""The hybrid recommender: content for cold tracks, ALS where listens exist, a blend between them.

Every track gets a vector in the ALS factor space. A track with listens has its own ALS factors; a
track with none gets a *prior*: the factors predicted from its content (a ridge regression from
content vectors to the ALS factors of played tracks) mixed with the mean factors of its artist's
played tracks when the artist is known. The two are blended by ``n / (n + blend_listens)``, ``n``
the track's number of listeners. A listener's score for a track is their ALS factors dotted with
the track's blended factors, plus ``content_weight`` times the cosine between the track's content
vector and the listener's taste vector (the recency-weighted mean of what they played, skips
subtracted). The same score is an inner product of two concatenated vectors, so one approximate
nearest-neighbour index (IVF, or voyager's HNSW) serves large catalogues.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from audiotaste.errors import InputError, ModelError
from audiotaste.recommend.ann import IVFIndex
from audiotaste.recommend.collaborative import als, confidence, fold_in
from audiotaste.recommend.content import ContentSpace
from audiotaste.recommend.events import EventReport, clean_events
from audiotaste.recommend.profile import HALF_LIFE_DAYS, SKIP_S, evidence

_PARAMS = (
    "factors",
    "regularization",
    "iterations",
    "alpha",
    "half_life_days",
    "skip_s",
    "blend_listens",
    "artist_listens",
    "content_weight",
    "ridge",
    "ann_min_tracks",
    "ann",
    "n_lists",
    "n_probe",
    "query_ef",
    "random_state",
)


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
        self.ann_min_tracks = ann_min_tracks
        self.ann = ann
        self.n_lists = n_lists
        self.n_probe = n_probe
        self.query_ef = query_ef
        self.random_state = random_state
        self._index: Any = None
        self._lookup: dict[str, tuple[np.ndarray, pd.Index]] = {}

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in _PARAMS}

    # ------------------------------------------------------------------------------------------
    def fit(self, events: pd.DataFrame, tracks: pd.DataFrame) -> Recommender:
        """Learn from listening events and a tracks frame (any subset of the catalogue columns).

        Events for tracks not in ``tracks`` are dropped and counted in ``fit_report_``.
        """
        if "track_id" not in tracks:
            raise InputError(None, "the tracks frame has no track_id column")
        tracks = tracks.drop_duplicates("track_id").reset_index(drop=True)
        self.content_, self.X_ = ContentSpace.fit_transform(tracks)
        self.track_ids_ = tracks["track_id"].astype(str).to_numpy(dtype=str)
        self.duration_s_ = _column(tracks, "duration_s", np.nan)
        self.artist_ = _text(tracks, "artist")
        self.title_ = _text(tracks, "title")
        self.path_ = _text(tracks, "path")
        artist_key = tracks["artist_id"] if "artist_id" in tracks else tracks.get("artist")
        self.artist_code_ = (
            pd.factorize(artist_key.astype(str))[0]
            if artist_key is not None
            else np.full(len(tracks), -1)
        ).astype(np.int64)
        tags = [c for c in tracks.columns if str(c).startswith(("genre.", "mood."))]
        if not tags:
            # a frame tagged only by another taxonomy (musicnn's tag.*) still gets worded reasons;
            # with ours present its 50 extra columns would add 200 MB at 1 M tracks and no new words
            tags = [c for c in tracks.columns if str(c).startswith("tag.")]
        self.tag_names_ = np.array(tags, dtype=str)
        self.tags_ = (
            tracks[tags].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy(np.float32)
        )
        # The catalogue's mean tag is in every reason; over a million tracks it is worth keeping.
        self.tag_mean_ = self.tags_.mean(0) if len(self.tags_) else np.zeros(len(tags), np.float32)

        ev, items = self._known_events(events)
        users, uniques = pd.factorize(ev["user_id"], sort=True)
        self.user_ids_ = np.asarray(uniques, dtype=str)
        self.ref_time_ = ev["timestamp"].max() if len(ev) else pd.Timestamp.now(tz="UTC")
        self.evidence_, self.plays_ = self._matrices(ev, users, items, len(self.user_ids_))
        self._refit()
        return self

    def _known_events(self, events: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Cleaned events of catalogue tracks and their track indices; sets ``fit_report_``."""
        ev, report = clean_events(events, sort=False)
        # Look up each distinct id once: 4x cheaper than get_indexer on 10M rows of ids.
        codes, uniques = pd.factorize(ev["track_id"])
        found = self._positions("track_ids_").get_indexer(uniques)
        items = np.where(codes >= 0, found[np.maximum(codes, 0)], -1) if len(found) else codes
        dropped = dict(report.dropped)
        if (items < 0).any():
            dropped["unknown_track"] = int((items < 0).sum())
            ev, items = ev[items >= 0], items[items >= 0]
        self.fit_report_ = EventReport("<frame>", "frame", report.rows_read, len(ev), dropped)
        return ev, items

    def _matrices(
        self, ev: pd.DataFrame, u: np.ndarray, i: np.ndarray, n_users: int
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Signed evidence and play counts, users x tracks."""
        w = evidence(
            ev,
            self.duration_s_[i],
            skip_s=self.skip_s,
            half_life_days=self.half_life_days,
            ref_time=self.ref_time_,
        )
        shape = (n_users, len(self.track_ids_))
        s = sp.csr_matrix((w.astype(np.float32), (u, i)), shape=shape)
        p = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=shape)
        s.sum_duplicates()
        p.sum_duplicates()
        return s, p

    def _refit(self) -> None:
        conf = confidence(self.evidence_, self.alpha)
        n_users, n_items = conf.shape
        if conf.nnz:
            self.user_factors_, self.item_cf_ = als(
                conf,
                factors=self.factors,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.random_state,
            )
        else:
            self.user_factors_ = np.zeros((n_users, self.factors), np.float32)
            self.item_cf_ = np.zeros((n_items, self.factors), np.float32)
        self._update_items()
        self.taste_ = self._taste(np.arange(n_users))

    def _update_items(self) -> None:
        """Recompute listener counts, the content regression, artist priors and blended factors."""
        pos = self.evidence_.copy()
        pos.data = (pos.data > 0).astype(np.float32)
        self.listens_ = np.asarray(pos.sum(0)).ravel().astype(np.int64)
        n = self.listens_.astype(np.float32)
        warm = n > 0
        x = np.hstack([self.X_, np.ones((len(n), 1), np.float32)])
        if warm.any():
            xw = x[warm] * np.sqrt(n[warm])[:, None]
            a = xw.T @ xw + self.ridge * np.eye(x.shape[1], dtype=np.float32)
            self.projection_ = np.linalg.solve(
                a, xw.T @ (self.item_cf_[warm] * np.sqrt(n[warm])[:, None])
            )
        else:
            self.projection_ = np.zeros((x.shape[1], self.factors), np.float32)
        predicted = x @ self.projection_
        codes = self.artist_code_
        has = codes >= 0
        n_art = max(int(codes.max()) + 1, 1) if has.any() else 1
        a_n = np.bincount(codes[has], weights=n[has], minlength=n_art)
        by_artist = sp.csr_matrix(
            (n[has], (codes[has], np.flatnonzero(has))), shape=(n_art, len(n))
        )
        a_sum = by_artist @ self.item_cf_
        # float32 and in place: at a million tracks each [n_tracks, factors] temporary is 256 MB,
        # and allocating them cost more than the arithmetic.
        a_mean = (a_sum / np.maximum(a_n, 1e-9)[:, None]).astype(np.float32)
        self.artist_listens_ = a_n
        safe = np.where(has, codes, 0)
        wa = np.where(has, a_n[safe] / (a_n[safe] + self.artist_listens), 0.0).astype(np.float32)
        prior = a_mean[safe]
        prior *= wa[:, None]
        predicted = predicted.astype(np.float32, copy=False)
        predicted *= (1 - wa)[:, None]
        prior += predicted
        wb = (n / (n + self.blend_listens)).astype(np.float32)[:, None]
        blended = self.item_cf_ * wb
        prior *= 1 - wb
        blended += prior
        self.item_factors_ = blended
        self._index = None

    def _taste(self, users: np.ndarray) -> np.ndarray:
        """Unit taste vectors in content space: evidence-weighted mean of played tracks."""
        t = np.asarray(self.evidence_[users] @ self.X_, np.float32)
        return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)

    # ------------------------------------------------------------------------------------------
    def partial_fit(self, new_events: pd.DataFrame) -> Recommender:
        """Add events without a full refit: listeners' and tracks' factors are re-solved in place.

        New listeners are added; events for unknown tracks are dropped (counted in
        ``fit_report_``). Item factors of the tracks that got listens are re-solved against the
        (updated) listener factors, so a cold track warms up as soon as it is played.
        """
        ev, items = self._known_events(new_events)
        if ev.empty:
            return self
        new_users = np.setdiff1d(ev["user_id"].unique().astype(str), self.user_ids_)
        if len(new_users):
            self.user_ids_ = np.concatenate([self.user_ids_, new_users])
            grow = (len(new_users), self.evidence_.shape[1])
            self.evidence_ = sp.vstack(
                [self.evidence_, sp.csr_matrix(grow, dtype=np.float32)]
            ).tocsr()
            self.plays_ = sp.vstack([self.plays_, sp.csr_matrix(grow, dtype=np.float32)]).tocsr()
            self.user_factors_ = np.vstack(
                [self.user_factors_, np.zeros((len(new_users), self.factors), np.float32)]
            )
            self.taste_ = np.vstack(
                [self.taste_, np.zeros((len(new_users), self.X_.shape[1]), np.float32)]
            )
        users = self._positions("user_ids_").get_indexer(ev["user_id"])
        s, p = self._matrices(ev, users, items, len(self.user_ids_))
        self.evidence_ = (self.evidence_ + s).tocsr()
        self.plays_ = (self.plays_ + p).tocsr()
        users, items = np.unique(users), np.unique(items)
        conf = confidence(self.evidence_, self.alpha)
        # Against the blended factors, so that plays of cold tracks say something about the listener.
        self.user_factors_[users] = fold_in(self.item_factors_, conf[users], self.regularization)
        self.item_cf_[items] = fold_in(
            self.user_factors_, conf.T.tocsr()[items], self.regularization
        )
        self._update_items()
        self.taste_[users] = self._taste(users)
        return self

    # ------------------------------------------------------------------------------------------
    def score(self, users: Sequence[str], track_ids: Sequence[str] | None = None) -> np.ndarray:
        """Scores ``[n_users, n_tracks]`` of the named tracks (all tracks when ``None``), exact."""
        check_fitted(self)
        u = self._user_index(users)
        items = (
            np.arange(len(self.track_ids_)) if track_ids is None else self._track_index(track_ids)
        )
        return self._score(u, items)

    def _score(self, u: np.ndarray, items: np.ndarray) -> np.ndarray:
        out = self.user_factors_[u] @ self.item_factors_[items].T
        if self.content_weight:
            out += self.content_weight * (self.taste_[u] @ self.X_[items].T)
        return out

    def score_components(self, user: str, track_ids: Sequence[str]) -> pd.DataFrame:
        """Per track: ``collab_score`` (factors), ``content_score`` (cosine with the listener's
        taste vector, -1..1), ``score`` (their weighted sum) and ``listens``; for re-ranking."""
        check_fitted(self)
        u = int(self._user_index([user])[0])
        i = self._track_index(track_ids)
        collab = self.item_factors_[i] @ self.user_factors_[u]
        content = self.X_[i] @ self.taste_[u]
        return pd.DataFrame(
            {
                "track_id": self.track_ids_[i],
                "score": collab + self.content_weight * content,
                "collab_score": collab,
                "content_score": content,
                "listens": self.listens_[i],
            }
        )

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
            idx, sc = self._ann(u, n, seen)
        else:
            pool = np.arange(len(self.track_ids_)) if items is None else items
            sc_all = self._score(np.array([u]), pool)[0]
            k = min(n + len(seen), len(pool))
            top = np.argpartition(-sc_all, k - 1)[:k] if k else np.zeros(0, np.int64)
            idx, sc = pool[top], sc_all[top]
        keep = ~np.isin(idx, seen)
        idx, sc = idx[keep], sc[keep]
        order = np.argsort(-sc, kind="stable")[:n]
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
        frames = []
        for user in users:
            f = self.recommend(user, n, cands, exclude_seen)
            f.insert(0, "rank", np.arange(1, len(f) + 1))
            f.insert(0, "user_id", user)
            frames.append(f)
        if not frames:
            return pd.DataFrame(columns=["user_id", "rank", "track_id", "score", "reason"])
        return pd.concat(frames, ignore_index=True)

    def similar(self, track_id: str, n: int = 10) -> pd.DataFrame:
        """Tracks closest to ``track_id`` in listening pattern and sound: ``track_id``, ``score``
        (mean of the factor and content cosines), ``reason``."""
        check_fitted(self)
        i = int(self._track_index([track_id])[0])
        f = self.item_factors_ / np.maximum(
            np.linalg.norm(self.item_factors_, axis=1, keepdims=True), 1e-9
        )
        by_listens = f @ f[i]
        by_sound = self.X_ @ self.X_[i]
        sc = 0.5 * (by_listens + by_sound)
        sc[i] = -np.inf
        k = min(n, len(sc) - 1)
        top = np.argpartition(-sc, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
        top = top[np.argsort(-sc[top], kind="stable")]
        reasons = []
        phrases = self._tag_phrases(np.concatenate([[i], top]), None)
        for j, phrase in zip(top, phrases[1:], strict=True):
            why = []
            if self.artist_code_[j] >= 0 and self.artist_code_[j] == self.artist_code_[i]:
                why.append("same artist")
            if by_sound[j] >= 0.5:
                shared = [w for w in phrase.split() if w in phrases[0].split()]
                why.append("sounds alike" + (f": both {' '.join(shared)}" if shared else ""))
            if self.listens_[i] and self.listens_[j] and by_listens[j] >= 0.5:
                why.append("played by the same listeners")
            if not why:
                why.append("the closest match available in sound and listeners")
            reasons.append("; ".join(why))
        return pd.DataFrame({"track_id": self.track_ids_[top], "score": sc[top], "reason": reasons})

    # ------------------------------------------------------------------------------------------
    def _ann(self, u: int, n: int, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` unseen tracks by score through the ANN index, with their exact scores."""
        index = self.build_index()
        q = np.concatenate([self.user_factors_[u], self.content_weight * self.taste_[u]])
        if isinstance(index, IVFIndex):
            ids, _ = index.search(q, n, self.n_probe, exclude=seen)
        else:
            k = min(n + len(seen), len(self.track_ids_))
            found, _ = index.query(
                np.append(q, 0.0).astype(np.float32), k=k, query_ef=max(self.query_ef, k)
            )
            ids = np.asarray(found, np.int64)
        # Scored again the way exact search scores, so both paths order ties alike.
        return ids, self._score(np.array([u]), ids)[0]

    def build_index(self) -> Any:
        """Build the ANN index now (it is otherwise built on the first large-catalogue query) and
        return it; kept by :meth:`save`."""
        check_fitted(self)
        if self._index is None:
            self._index = self._build_index()
        return self._index

    def index_bytes(self) -> int:
        """Memory of the ANN index once built, bytes (0 when there is none)."""
        if self._index is None:
            return 0
        if isinstance(self._index, IVFIndex):
            return self._index.nbytes
        return len(self._index.as_bytes())

    def _item_vectors(self) -> np.ndarray:
        """``[item factors, content]``: a track's score is the inner product of this with
        ``[user factors, content_weight * taste]``."""
        return np.hstack([self.item_factors_, self.X_]).astype(np.float32)

    def _build_index(self) -> Any:
        if self.ann == "ivf":
            # Lists split along what listeners' queries weigh (see IVFIndex.build).
            rng = np.random.default_rng(self.random_state)
            users = rng.choice(len(self.user_ids_), min(len(self.user_ids_), 20_000), replace=False)
            queries = np.hstack(
                [self.user_factors_[users], self.content_weight * self.taste_[users]]
            )
            return IVFIndex.build(
                self._item_vectors(),
                self.n_lists or None,
                queries=queries if len(users) else None,
                random_state=self.random_state,
            )
        if self.ann != "voyager":
            raise InputError(None, f"unknown ann {self.ann!r}: use 'ivf' or 'voyager'")
        from voyager import Index, Space

        z = self._item_vectors()
        norms = np.linalg.norm(z, axis=1)
        max_norm = float(norms.max()) if len(norms) else 1.0
        # Adding sqrt(M^2 - |z|^2) makes every item the same length, so nearest in Euclidean
        # distance is largest inner product (Bachrach et al. 2014).
        z = np.hstack([z, np.sqrt(np.clip(max_norm**2 - norms**2, 0, None))[:, None]]).astype(
            np.float32
        )
        index = Index(
            Space.Euclidean,
            num_dimensions=z.shape[1],
            # Denser than voyager's defaults: M 16 / ef_construction 100 reached recall@50 0.84 at
            # best in bench_recommend.py ann, M 32 / 200 0.92 at query_ef 800.
            M=32,
            ef_construction=200,
            random_seed=self.random_state,
        )
        index.add_items(z, ids=np.arange(len(z)), num_threads=-1)
        return index

    def _default(self, n: int, items: np.ndarray | None) -> pd.DataFrame:
        pool = np.arange(len(self.track_ids_)) if items is None else items
        if self.listens_[pool].max(initial=0) > 0:
            sc = np.log1p(self.listens_[pool]).astype(np.float64)
            order = np.argsort(-sc, kind="stable")[:n]
            reason = "popular here ({} listeners); a default: you have no listening history yet"
            reasons = [reason.format(self.listens_[pool[j]]) for j in order]
            return self._frame(None, pool[order], sc[order], reasons)
        # Nobody has played anything: pick tracks that spread over the catalogue's sound.
        chosen = [0]
        dist = 1 - self.X_[pool] @ self.X_[pool[0]]
        while len(chosen) < min(n, len(pool)):
            j = int(np.argmax(dist))
            chosen.append(j)
            dist = np.minimum(dist, 1 - self.X_[pool] @ self.X_[pool[j]])
        reasons = [
            "a spread across the catalogue; a default: you have no listening history yet"
        ] * len(chosen)
        return self._frame(None, pool[chosen], np.zeros(len(chosen)), reasons)

    def _frame(
        self, u: int | None, idx: np.ndarray, sc: np.ndarray, reasons: list[str] | None = None
    ) -> pd.DataFrame:
        if u is None:
            collab = np.zeros(len(idx), np.float32)
            content = np.zeros(len(idx), np.float32)
        else:
            collab = self.item_factors_[idx] @ self.user_factors_[u]
            content = self.X_[idx] @ self.taste_[u]
        if reasons is None:
            assert u is not None
            reasons = self._reasons(u, idx, collab, content)
        return pd.DataFrame(
            {
                "track_id": self.track_ids_[idx],
                "score": np.asarray(sc, np.float64),
                "reason": reasons,
                "collab_score": collab,
                "content_score": content,
                "listens": self.listens_[idx],
                "artist": self.artist_[idx],
                "title": self.title_[idx],
            }
        )

    # ------------------------------------------------------------------------------------------
    def _reasons(
        self, u: int, idx: np.ndarray, collab: np.ndarray, content: np.ndarray
    ) -> list[str]:
        """Reasons from the actual score parts: tags the listener favours, nearest liked tracks,
        zero listens, artists they play, and whether listeners like them carried the score."""
        cols, data = _row(self.evidence_, u)
        liked, weights = cols[data > 0], data[data > 0]
        taste_tags = None
        if len(liked) and len(self.tag_names_):
            taste_tags = (weights @ self.tags_[liked]) / weights.sum() - self.tag_mean_
        heads = self._tag_phrases(idx, taste_tags)
        codes, counts = np.unique(self.artist_code_[liked], return_counts=True)
        liked_artists = {int(c): int(k) for c, k in zip(codes, counts, strict=True) if c >= 0}
        sims = self.X_[liked] @ self.X_[idx].T  # [n_liked, n_idx]
        nearest = sims.argmax(0) if len(liked) else np.zeros(len(idx), np.int64)
        n = self.listens_[idx]
        # Only when the track's own listening data (not its content or artist prior) carries
        # most of the score.
        own = n / (n + self.blend_listens) * (self.item_cf_[idx] @ self.user_factors_[u])
        out = []
        for r, j in enumerate(idx):
            parts = []
            if n[r] == 0:
                parts.append("new: nobody has played it yet")
            if heads[r]:
                parts.append(f"{heads[r]}, which you favour")
            k = liked_artists.get(self.artist_code_[j], 0)
            if k:
                name = self.artist_[j] or "an artist"
                parts.append(f"by {name}, whom you play ({k} track{'s' * (k > 1)} you like)")
            if len(liked) and sims[nearest[r], r] >= 0.5 and liked[nearest[r]] != j:
                parts.append(f"sounds like {self._name(liked[nearest[r]])}, which you like")
            if (
                own[r] > 0
                and own[r] >= 0.5 * collab[r]
                and own[r] >= self.content_weight * content[r]
            ):
                parts.append(f"liked by listeners who share your taste ({n[r]} listeners)")
            text = "; ".join(parts) or "the closest remaining match to your listening"
            out.append(text[0].upper() + text[1:])
        return out

    def _tag_phrases(self, idx: np.ndarray, taste: np.ndarray | None) -> list[str]:
        """``"calm jazz"`` per track: its strongest mood and genre, kept only if the listener plays
        more of them than the catalogue average (or always, without a listener)."""
        words: list[list[str]] = [[] for _ in idx]
        for kind in ("mood.", "genre.", "tag."):
            cols = np.flatnonzero(np.char.startswith(self.tag_names_, kind))
            if not len(cols):
                continue
            best = cols[self.tags_[np.ix_(idx, cols)].argmax(1)]
            keep = self.tags_[idx, best] >= 0.3
            if taste is not None:
                keep &= taste[best] > 0
            for r in np.flatnonzero(keep):
                words[r].append(self.tag_names_[best[r]][len(kind) :])
        return [" ".join(w) for w in words]

    def _name(self, j: int) -> str:
        title, artist = self.title_[j], self.artist_[j]
        if title and artist:
            return f"“{title}” by {artist}"
        if title:
            return f"“{title}”"
        # Untagged files (e.g. OGGs without comments) still have a file name, which people chose
        # to be readable; a content hash is not.
        return readable_name(self.path_[j]) if self.path_[j] else f"track {self.track_ids_[j]}"

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
        index = self._positions("user_ids_")
        if len(users) == 1 and index.is_unique:
            # get_loc is a hash lookup; get_indexer builds an Index of the query first (~1 ms).
            try:
                loc = index.get_loc(str(users[0]))
            except KeyError:
                loc = -1
            if isinstance(loc, int) and loc >= 0:
                return np.array([loc], np.int64)
        idx = index.get_indexer([str(x) for x in users])
        if (idx < 0).any():
            bad = [str(x) for x, i in zip(users, idx, strict=True) if i < 0][:3]
            raise InputError(
                None,
                f"unknown listener(s) {bad}: not in the events this model was fitted on "
                f"({len(self.user_ids_)} listeners); use user=None for a new listener's default",
            )
        return idx

    def _track_index(self, track_ids: Sequence[str]) -> np.ndarray:
        idx = self._positions("track_ids_").get_indexer([str(x) for x in track_ids])
        if (idx < 0).any():
            bad = [str(x) for x, i in zip(track_ids, idx, strict=True) if i < 0][:3]
            raise InputError(
                None, f"unknown track id(s) {bad}: not in the tracks this model was fitted on"
            )
        return idx

    # ------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``config.json``, ``arrays.npz`` (no pickle) and, once built, the ANN index
        (``index.npz`` for IVF, ``index.voyager``) to the directory ``path``."""
        check_fitted(self)
        d = Path(path)
        d.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": "audiotaste.recommender/1",
            "params": self.get_params(),
            "content": self.content_.to_dict(),
            "ref_time": self.ref_time_.isoformat(),
            "fit_report": self.fit_report_.to_dict(),
        }
        (d / "config.json").write_text(json.dumps(meta, indent=1))
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        for name in ("evidence_", "plays_"):
            m = getattr(self, name)
            arrays |= {
                f"{name}data": m.data,
                f"{name}indices": m.indices,
                f"{name}indptr": m.indptr,
            }
        np.savez(d / "arrays.npz", **arrays)
        # The ANN index of a large catalogue takes minutes to build: keep it when there is one.
        (d / "index.voyager").unlink(missing_ok=True)
        (d / "index.npz").unlink(missing_ok=True)
        if isinstance(self._index, IVFIndex):
            self._index.save(d / "index.npz")
        elif self._index is not None:
            self._index.save(str(d / "index.voyager"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recommender:
        """Read a model written by :meth:`save`."""
        d = Path(path)
        try:
            meta = json.loads((d / "config.json").read_text())
            arrays = np.load(d / "arrays.npz", allow_pickle=False)
            rec = cls(**meta["params"])
            rec.content_ = ContentSpace.from_dict(meta["content"])
            rec.ref_time_ = pd.Timestamp(meta["ref_time"])
            r = meta["fit_report"]
            rec.fit_report_ = EventReport(
                r["source"], r["format"], r["rows_read"], r["rows_kept"], r["dropped"]
            )
            for name in _ARRAYS:
                if name in _OPTIONAL_ARRAYS and name not in arrays:
                    setattr(rec, name, _OPTIONAL_ARRAYS[name](len(arrays["track_ids_"])))
                else:
                    setattr(rec, name, arrays[name])
            shape = (len(rec.user_ids_), len(rec.track_ids_))
            for name in ("evidence_", "plays_"):
                parts = (arrays[f"{name}data"], arrays[f"{name}indices"], arrays[f"{name}indptr"])
                setattr(rec, name, sp.csr_matrix(parts, shape=shape))
            if (d / "index.npz").is_file():
                rec._index = IVFIndex.load(d / "index.npz")
            elif (d / "index.voyager").is_file():
                from voyager import Index

                rec._index = Index.load(str(d / "index.voyager"))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise ModelError(
                d, f"not a saved Recommender ({exc.__class__.__name__}: {exc})"
            ) from None
        return rec


_ARRAYS = (
    "track_ids_",
    "user_ids_",
    "X_",
    "duration_s_",
    "artist_",
    "title_",
    "path_",
    "artist_code_",
    "tag_names_",
    "tags_",
    "tag_mean_",
    "user_factors_",
    "item_cf_",
    "item_factors_",
    "projection_",
    "listens_",
    "artist_listens_",
    "taste_",
)

#: Arrays added after the first saved format, with what a model saved before them gets.
_OPTIONAL_ARRAYS = {"path_": lambda n: np.full(n, "", dtype=str)}


def readable_name(path: str) -> str:
    """A track's name from its file name, for tracks without title tags.

    ``Artist - Title.flac`` and ``artist_name-title_words.ogg`` (one hyphen) read as
    ``“Title” by Artist``; a leading track number (``03 - Title``) is dropped; anything else is the
    file name without extension, underscores as spaces.

    Parameters
    ----------
    path
        File path, POSIX or Windows separators.

    Returns
    -------
    str
        The name in curly quotes, e.g. ``“blue hour walk” by the velvet quartet``.
    """
    stem = re.split(r"[\\/]", path.strip())[-1]
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", stem)
    stem = " ".join(stem.replace("_", " ").split())
    parts = stem.split(" - ") if " - " in stem else stem.split("-")
    parts = [p.strip() for p in parts]
    if len(parts) == 2 and all(parts):
        artist, title = parts
        if artist.isdigit():
            return f"“{title}”"
        return f"“{title}” by {artist}"
    return f"“{stem}”" if stem else "an unnamed file"


def _row(m: sp.csr_matrix, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of row ``r`` of a CSR matrix, without scipy's slicing overhead."""
    lo, hi = m.indptr[r], m.indptr[r + 1]
    return m.indices[lo:hi], m.data[lo:hi]


def check_fitted(rec: Recommender) -> None:
    if not hasattr(rec, "item_factors_"):
        raise ModelError(None, "this Recommender is not fitted yet: call fit(events, tracks) first")


def _column(tracks: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in tracks:
        return np.full(len(tracks), default)
    return pd.to_numeric(tracks[name], errors="coerce").to_numpy(np.float64)


def _text(tracks: pd.DataFrame, name: str) -> np.ndarray:
    if name not in tracks:
        return np.full(len(tracks), "", dtype=str)
    return tracks[name].fillna("").astype(str).to_numpy(dtype=str)
