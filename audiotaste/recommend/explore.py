"""A weekly discovery playlist that explores as well as exploits, explains itself, and logs what it
needs to be judged offline.

Each slot's shelf is drawn by a per-listener Thompson-sampling bandit with a discovery quota
(:mod:`~audiotaste.recommend.bandit`) from explained shelves (:mod:`~audiotaste.recommend.shelves`);
tracks are ranked by the recommender's score until feedback arrives, then by a logistic model of
"finished it" fitted on the playlists' own outcomes (:mod:`~audiotaste.recommend.ranker`); the
finished playlist is ordered to flow (:mod:`~audiotaste.recommend.flow`). Every slot is logged with
its propensity (:mod:`~audiotaste.recommend.impressions`), so other shelf policies can be judged
offline (:mod:`~audiotaste.recommend.offpolicy`).

:meth:`Discovery.save` / :meth:`Discovery.load` keep the bandit's beliefs, the impressions log, the
re-ranker and the random stream in a JSON file between runs (:mod:`~audiotaste.recommend.state`);
``audiotaste discover`` keeps one beside the catalogue and learns, at each run, from the plays newer
than each listener's last playlist (:meth:`Discovery.new_feedback`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from audiotaste.recommend.bandit import ARMS, discounted_counts, posterior, slot_probabilities
from audiotaste.recommend.events import clean_events
from audiotaste.recommend.explain import shelf_reasons
from audiotaste.recommend.flow import flow_order
from audiotaste.recommend.impressions import (
    ImpressionLog,
    as_utc,
    last_served,
    new_feedback,
    slot_rows,
)
from audiotaste.recommend.offpolicy import FULL_FRACTION, full_plays, off_policy_estimate
from audiotaste.recommend.playlist import Playlist
from audiotaste.recommend.ranker import FEATURES, features, fit_ranker, liked, update_recent, worth
from audiotaste.recommend.recommender import Recommender, check_fitted
from audiotaste.recommend.shelves import (
    NEW_RELEASE_DAYS,
    ShelfCatalogue,
    build_shelves,
    fill_slots,
    length_notes,
    offerable,
    playlist_frame,
)
from audiotaste.recommend.state import load_state, save_state

__all__ = [
    "ARMS",
    "FEATURES",
    "FULL_FRACTION",
    "NEW_RELEASE_DAYS",
    "Discovery",
    "full_plays",
    "off_policy_estimate",
]

#: Constructor arguments kept in a saved state (``rec`` and ``tracks`` are given to ``load``).
_PARAMS = ("size", "epsilon", "discovery_share", "second_genres", "prior_strength", "discount",
           "diversity", "learn", "new_artists", "fresh_shelves", "artist_cap", "new_artist_value",
           "pool", "draws", "mix", "random_state")  # fmt: skip


class Discovery:
    """Weekly discovery playlists from a fitted :class:`~audiotaste.recommend.Recommender`.

    Parameters
    ----------
    rec
        A fitted recommender; ``update`` feeds it the listeners' feedback (``partial_fit``).
    size
        Tracks per playlist (unless ``minutes`` is given to :meth:`playlist`).
    tracks
        Catalogue columns not kept by the recommender, joined on ``track_id``: ``key``, ``mode``,
        ``tempo_bpm``, ``energy`` for the order, ``path`` for M3U8, ``release`` for the
        new-releases shelf. Without them the playlist still works; what is missing is named.
    epsilon
        Share of slots whose shelf is drawn uniformly, so every shelf keeps a logged propensity of
        at least ``epsilon / n_shelves`` (off-policy estimates need that support).
    discovery_share
        Share of slots reserved for the "because you like <next genres>" shelf whenever it has
        tracks, whatever the bandit believes (a discovery quota, as Discover Weekly keeps one):
        left to the bandit alone, a shelf a little less often finished than the favourite genre's
        starves, and the listener never gets to know their second genre. Part of each slot's
        logged propensity, so off-policy estimates stay exact.
    second_genres
        How many of the listener's next genres (after the favourite) the discovery shelf holds:
        with 3 (the default), the second to fourth, so a tail that is reordering (a rising third
        genre) is followed; the re-ranker's score picks among them.
    prior_strength
        Pseudo-plays of the audience-wide shelf rate in each listener's prior.
    discount
        Weight kept by past feedback at each update, so a changing taste is followed.
    diversity
        MMR trade-off within shelves (0: by score only).
    learn
        Re-rank with a logistic model of full plays fitted on the playlists' own feedback (see
        :data:`FEATURES`); until feedback arrives, the recommender's score ranks alone.
    new_artists, fresh_shelves
        Fill these shelves (the next genres, "outside your usual", new releases) with artists
        the listener has never played, where there are any: discovery, not more of the same.
    artist_cap
        Tracks per artist per 30 tracks.
    new_artist_value
        Within every shelf, a full play of an artist the listener has not adopted yet (fewer than
        two of their tracks liked: never played, or found once) counts ``1 + new_artist_value``
        plays: tracks are taken by ``p(full) * (1 + new_artist_value)`` for those artists and
        ``p(full)`` for the others, once the re-ranker gives ``p(full)`` (0: by ``p(full)``
        alone). Shelves, reasons and propensities are unchanged. It trades full plays for
        discovery; 0.25 was chosen on the tuning worlds once the re-ranker read the finish
        evidence of :mod:`~audiotaste.recommend.finish` (docs/BENCHMARKS.md, session 12).
    pool
        Best-scoring tracks kept per shelf.
    draws
        Posterior samples used to compute each shelf's Thompson-sampling probability.
    mix
        A fixed shelf mix ``{arm: weight}`` used instead of the bandit (to run a policy that
        :func:`off_policy_estimate` judged, for instance).
    random_state
        Seed.

    Attributes
    ----------
    log_ : pandas.DataFrame
        Every slot served (:mod:`~audiotaste.recommend.impressions`), read-only.
    counts_ : dict of str to numpy.ndarray
        Per listener, discounted full plays and other starts per arm, ``[n_arms, 2]``.
    """

    def __init__(
        self,
        rec: Recommender,
        size: int = 30,
        *,
        tracks: pd.DataFrame | None = None,
        epsilon: float = 0.1,
        discovery_share: float = 0.07,
        second_genres: int = 3,
        prior_strength: float = 4.0,
        discount: float = 0.7,
        diversity: float = 0.2,
        learn: bool = True,
        new_artists: bool = True,
        fresh_shelves: Iterable[str] = ("second_genre", "outside", "new"),
        artist_cap: int = 1,
        new_artist_value: float = 0.25,
        pool: int = 60,
        draws: int = 1000,
        mix: Mapping[str, float] | None = None,
        random_state: int = 0,
    ) -> None:
        check_fitted(rec)
        self.rec = rec
        self.size = size
        self.tracks = tracks
        self.epsilon = epsilon
        self.discovery_share = discovery_share
        self.second_genres = second_genres
        self.prior_strength = prior_strength
        self.discount = discount
        self.diversity = diversity
        self.learn = learn
        self.new_artists = new_artists
        self.fresh_shelves = tuple(str(a) for a in fresh_shelves)
        self.artist_cap = artist_cap
        self.new_artist_value = new_artist_value
        self.pool = pool
        self.draws = draws
        self.mix = None if mix is None else dict(mix)
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        self.counts_: dict[str, np.ndarray] = {}
        self._recent: dict[str, np.ndarray] = {}
        self._round = 0
        self._user_pos: dict[str, int] = {}
        self._track_pos: pd.Index | None = None
        self.coef_: np.ndarray | None = None
        self._audience = np.zeros((len(ARMS), 2))
        self._impressions = ImpressionLog()
        self._shown: dict[str, set[int]] = {}
        self._week: dict[str, int] = {}
        self._cat = ShelfCatalogue.build(rec, tracks)

    @property
    def log_(self) -> pd.DataFrame:
        """Every slot served (see the class docstring); read it, do not modify it."""
        return self._impressions.frame

    def _posterior(self, user: str) -> tuple[np.ndarray, np.ndarray]:
        return posterior(self._audience, self.counts_.get(user), prior_strength=self.prior_strength)

    def _probabilities(self, a: np.ndarray, b: np.ndarray, available: np.ndarray) -> np.ndarray:
        return slot_probabilities(
            a,
            b,
            available,
            rng=self._rng,
            epsilon=self.epsilon,
            discovery_share=self.discovery_share,
            draws=self.draws,
            mix=self.mix,
        )

    def beliefs(self, user: str) -> pd.DataFrame:
        """The bandit's current view for ``user``: per arm ``alpha``, ``beta``, ``mean`` (expected
        full-play rate), ``full_plays`` and ``other_starts`` (discounted) and ``p_choose`` (chance
        of filling a slot when every shelf has tracks)."""
        a, b = self._posterior(str(user))
        p = self._probabilities(a, b, np.ones(len(ARMS), bool))
        c = self.counts_.get(str(user), np.zeros((len(ARMS), 2)))
        return pd.DataFrame(
            {
                "arm": ARMS,
                "alpha": a,
                "beta": b,
                "mean": a / (a + b),
                "full_plays": c[:, 0],
                "other_starts": c[:, 1],
                "p_choose": p,
            }
        )

    def playlist(
        self,
        user: str | None,
        exclude: Iterable[str] | None = None,
        *,
        minutes: float | None = None,
        record: bool = True,
        served_at: pd.Timestamp | str | None = None,
    ) -> pd.DataFrame:
        """This week's playlist for ``user``.

        Parameters
        ----------
        user
            A listener the recommender knows; an unknown one (or ``None``) gets a labelled default
            from popular and new tracks.
        exclude
            Track ids to leave out, besides everything the listener played or was shown before.
        minutes
            Fill by duration instead of ``size`` tracks.
        record
            Log the impressions (set False for a what-if playlist that changes nothing).
        served_at
            When the playlist is served (UTC), logged with its impressions: feedback events
            later than this are its outcome (see :meth:`new_feedback`).

        Returns
        -------
        pandas.DataFrame
            In play order: ``position``, ``track_id``, ``shelf``, ``reason``, ``score`` (the
            recommender's score until feedback has fitted the re-ranker, then its log-odds of a
            full play), ``propensity`` (chance that this slot's shelf was drawn), ``arm``,
            ``artist``, ``title``, ``duration_s`` (and ``path`` when known).
            ``attrs["unmet"]`` lists the constraints that could not be met, ``attrs["flow"]`` the
            order's harmony/tempo/energy figures.
        """
        rec = self.rec
        key = None if user is None else str(user)
        u = None if key is None else self._users().get(key)
        unmet: list[str] = []
        n_tracks = len(rec.track_ids_)
        cat = self._cat
        if u is None:
            listens = np.asarray(rec.listens_, float)
            score = (
                np.log1p(listens) / max(np.log1p(listens.max()), 1.0) if n_tracks else np.zeros(0)
            )
            unmet.append(
                "history: no listening history for this listener, so popular and new tracks stand in"
            )
            heard = np.zeros(0, np.int64)
        else:
            feats = features(rec, cat, u, self._recent.get(str(key)))
            score = feats[:, 0] if self.coef_ is None else feats @ self.coef_[1:] + self.coef_[0]
            heard = rec.plays_[u].indices
        target_n = self.size
        if minutes is not None:
            target_n = (
                max(1, math.ceil(minutes * 60 / float(np.median(cat.duration))) + 5)
                if n_tracks
                else 0
            )
        ok, repeats = offerable(
            n_tracks,
            heard=heard,
            excluded=None
            if exclude is None
            else self._tracks_index().get_indexer([str(x) for x in exclude]),
            shown=list(self._shown.get(key, ())) if key is not None else [],
            wanted=target_n,
            unmet=unmet,
        )
        rank = score
        if u is not None and self.coef_ is not None and self.new_artist_value > 0:
            rank = worth(rec, u, score, self.new_artist_value)
        # repeats rank after every track never offered
        if repeats is not None and len(score):
            rank = np.where(repeats, rank - (np.ptp(rank) + 1.0), rank)
        shelves = build_shelves(
            cat,
            rec,
            u,
            ok,
            unmet,
            new_artists=self.new_artists,
            second_genres=self.second_genres,
            fresh_shelves=self.fresh_shelves,
        )
        a, b = self._posterior(key or "")
        picked, arms, props, probs = fill_slots(
            shelves,
            rank,
            x=rec.X_,
            artist_code=rec.artist_code_,
            duration=cat.duration,
            probabilities=lambda avail: self._probabilities(a, b, avail),
            rng=self._rng,
            n=target_n,
            minutes=minutes,
            pool=self.pool,
            diversity=self.diversity,
            artist_cap=self.artist_cap,
            unmet=unmet,
        )
        unmet += length_notes(picked, target_n, minutes, cat.duration)
        idx = np.asarray(picked, np.int64)
        order, flow, notes = flow_order(
            *(None if v is None else v[idx] for v in cat.meta.values()), n_tracks=len(idx)
        )
        unmet += notes
        idx, arms_a, props_a, probs_a = (
            idx[order],
            np.asarray(arms)[order],
            np.asarray(props)[order],
            probs[order],
        )
        labels = {arm: label for arm, (label, _) in shelves.items()}
        reasons = shelf_reasons(
            rec,
            idx,
            [labels[a] for a in arms_a],
            liked(rec, u)[0] if u is not None else None,
            cat.phrase,
        )
        out = playlist_frame(
            rec, cat, idx, [labels[a] for a in arms_a], reasons, score[idx], props_a, arms_a
        )
        if record and key is not None:
            self._record(key, out, probs_a, None if u is None else feats[idx], as_utc(served_at))
        out.attrs["unmet"] = unmet
        out.attrs["flow"] = flow
        return out

    def to_playlist(self, frame: pd.DataFrame) -> Playlist:
        """Wrap :meth:`playlist`'s output for the M3U8 / JSON writers."""
        return Playlist(
            frame.reset_index(drop=True),
            tuple(frame.attrs.get("unmet", ())),
            dict(frame.attrs.get("flow", {})),
        )

    def _users(self) -> dict[str, int]:
        ids = self.rec.user_ids_
        if len(self._user_pos) != len(ids):
            self._user_pos = {str(x): i for i, x in enumerate(ids)}
        return self._user_pos

    def _tracks_index(self) -> pd.Index:
        ids = self.rec.track_ids_
        if self._track_pos is None or len(self._track_pos) != len(ids):
            self._track_pos = pd.Index(np.asarray(ids, dtype=object))
        return self._track_pos

    def _record(
        self,
        user: str,
        out: pd.DataFrame,
        probs: np.ndarray,
        feats: np.ndarray | None,
        served_at: pd.Timestamp | None = None,
    ) -> None:
        week = self._week.get(user, 0)
        self._week[user] = week + 1
        rows = slot_rows(
            out,
            user=user,
            round_=self._round,
            week=week,
            probs=probs,
            feats=feats,
            served_at=served_at,
            arms=ARMS,
            features=FEATURES,
        )
        self._impressions.append(rows)
        shown = self._shown.setdefault(user, set())
        shown.update(self._tracks_index().get_indexer(rows["track_id"]).tolist())

    def update(self, feedback_events: pd.DataFrame, *, refit: bool = True) -> Discovery:
        """Learn from what happened to the last playlists.

        ``feedback_events`` are events (started tracks only). The recommender is updated with
        them (``partial_fit``: profiles, factors, taste) unless ``refit`` is false (it was fitted
        on a history that already holds them, as in the CLI); every pending impression of a listener
        who appears in them gets ``started`` and ``reward`` (1 full play, 0 otherwise, including
        not started); each such listener's shelf counts are discounted and the started slots
        added (a full play is a success, any other start a failure).
        """
        ev, _ = clean_events(feedback_events)
        if ev.empty:
            return self
        if refit:
            self.rec.partial_fit(ev)
        dur = pd.Series(np.asarray(self.rec.duration_s_, float), index=self.rec.track_ids_)
        full = full_plays(ev, ev["track_id"].map(dur).to_numpy(float))
        ti = self._tracks_index().get_indexer(ev["track_id"].astype(str))
        update_recent(self._recent, ev, full, ti, self.rec.X_, discount=self.discount)
        got = pd.DataFrame(
            {
                "user_id": ev["user_id"].astype(str),
                "track_id": ev["track_id"].astype(str),
                "full": full,
            }
        )
        got = got.groupby(["user_id", "track_id"], as_index=False)["full"].max()
        log = self.log_
        pending = log["reward"].isna() & log["user_id"].isin(set(got["user_id"]))
        if not pending.any():
            return self
        sub = log.loc[pending, ["user_id", "track_id", "arm"]].reset_index()
        sub = sub.merge(got, on=["user_id", "track_id"], how="left")
        started = sub["full"].notna().to_numpy()
        reward = sub["full"].fillna(False).astype(float).to_numpy()
        self._impressions.set_outcomes(sub["index"].to_numpy(), started, reward)
        arm_i = sub["arm"].map({a: i for i, a in enumerate(ARMS)}).to_numpy()
        for user, rows in pd.DataFrame(
            {"u": sub["user_id"], "a": arm_i, "r": reward, "s": started}
        ).groupby("u"):
            self.counts_[str(user)] = discounted_counts(
                self.counts_.get(str(user)),
                rows["a"].to_numpy(),
                rows["r"].to_numpy(),
                rows["s"].to_numpy(bool),
                discount=self.discount,
            )
        self._audience = sum(self.counts_.values(), np.zeros((len(ARMS), 2)))
        if self.learn:
            coef = fit_ranker(self.log_, round_=self._round, discount=self.discount)
            self.coef_ = coef if coef is not None else self.coef_
        self._round += 1
        return self

    # ------------------------------------------------------------------------------------------
    def last_served(self, user: str) -> pd.Timestamp | None:
        """When ``user``'s latest logged playlist was served (``None``: never, or not given)."""
        return last_served(self.log_, user)

    def new_feedback(self, events: pd.DataFrame) -> pd.DataFrame:
        """The events that answer logged playlists: each listener's events later than their
        latest playlist's ``served_at``. Listeners without a timed playlist contribute nothing."""
        return new_feedback(self.log_, events)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bandit's beliefs, the impressions log (with propensities), the re-ranker and
        the random stream to a JSON file, atomically (:mod:`audiotaste._io`: a killed run leaves
        the old state or the new one, never half of one).

        The recommender and the tracks frame are not saved: :meth:`load` takes them.
        """
        return save_state(self, path, _PARAMS)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        recommender: Recommender,
        *,
        tracks: pd.DataFrame | None = None,
    ) -> Discovery:
        """A :class:`Discovery` over ``recommender`` with the state :meth:`save` wrote.

        Tracks the recommender no longer knows drop out of the shown sets (their log rows stay);
        a feedback vector of another width than the recommender's content space is dropped.

        Raises
        ------
        audiotaste.errors.InputError
            The file is missing, not JSON, not a discovery state, of another version, or its
            contents do not fit together (each case named).
        """
        return load_state(cls, path, recommender, tracks, _PARAMS)
