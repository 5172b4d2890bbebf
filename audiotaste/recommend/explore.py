"""A weekly discovery playlist that explores as well as exploits, explains itself, and logs what it
needs to be judged offline.

Each listener's playlist is filled slot by slot from *shelves* (in the spirit of Netflix's and
Spotify's BART: "because you like jazz", "calm for you", "new releases", "outside your usual",
"for you"). Which shelf fills a slot is drawn from a per-listener Thompson-sampling bandit over
shelves: each shelf has a Beta posterior on its full-play rate (full plays are successes, every other
started track a failure), pooled towards the whole audience's rate for new listeners and discounted
each week so a drifting taste is followed. The probability of the shelf drawn for each slot is
logged as the item's ``propensity``, which makes inverse-propensity (IPS) and self-normalised IPS
estimates of another shelf policy's full-play rate possible from the logs alone.

Tracks are ranked by the recommender's score until feedback arrives; from then on by a logistic
model of "finished it" fitted on the playlists' own logged outcomes (:data:`FEATURES`: the
recommender's score, genre and mood match, a liked artist, energy and tempo gaps, and the listener's
recent finishes minus skips), so what the playlists learn is not diluted in months of history.
Within a shelf, tracks are taken by maximal marginal relevance under an artist cap, and the finished
playlist is ordered to flow (see :mod:`audiotaste.recommend.playlist`). A share of the slots
(``discovery_share``) is reserved for the shelf of the listener's next genres, whatever the bandit
believes, so the second genre is not starved by a favourite that is finished a little more often.

:meth:`Discovery.save` / :meth:`Discovery.load` keep the bandit's beliefs, the impressions log
(with propensities and serve times), the re-ranker and the random stream in a JSON file between
runs; ``audiotaste discover`` keeps one beside the catalogue and learns, at each run, from the
plays newer than each listener's last playlist (:meth:`Discovery.new_feedback`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audiotaste.errors import InputError
from audiotaste.recommend.events import clean_events
from audiotaste.recommend.playlist import DEFAULT_DURATION_S, Playlist, flow_order
from audiotaste.recommend.profile import SKIP_S
from audiotaste.recommend.recommender import Recommender, check_fitted

#: Shelf kinds, the bandit's arms, in display order.
ARMS = ("for_you", "top_genre", "second_genre", "mood", "new", "outside")
_SECOND = ARMS.index("second_genre")
#: Per (listener, track) inputs of the learned re-ranker: the recommender's score; the listener's
#: liked genre and mood mix dotted with the track's tags; whether they like the artist; the gaps
#: to their liked energy and (octave-folded, log2) tempo; cosine with their recent feedback
#: (finished minus skipped tracks of past playlists, discounted weekly).
FEATURES = (
    "score",
    "genre_match",
    "mood_match",
    "liked_artist",
    "energy_gap",
    "tempo_gap",
    "recent",
)
#: A play of at least this share of the track counts as a full play.
FULL_FRACTION = 0.9
#: Tracks released this close to the newest release are "new releases", days.
NEW_RELEASE_DAYS = 28
#: ``format`` and ``version`` of the JSON written by :meth:`Discovery.save`.
STATE_FORMAT, STATE_VERSION = "audiotaste.discovery", 1
#: Constructor arguments kept in a saved state (``rec`` and ``tracks`` are given to ``load``).
_PARAMS = (
    "size",
    "epsilon",
    "discovery_share",
    "second_genres",
    "prior_strength",
    "discount",
    "diversity",
    "learn",
    "new_artists",
    "artist_cap",
    "pool",
    "draws",
    "mix",
    "random_state",
)


def full_plays(events: pd.DataFrame, duration_s: np.ndarray | None = None) -> np.ndarray:
    """Whether each event is a full play (bool array).

    At least :data:`FULL_FRACTION` of the track's duration when it is known; otherwise
    ``reason_end == "trackdone"``, else ``skipped`` false, else two minutes or more.
    """
    ms = pd.to_numeric(events["ms_played"], errors="coerce").fillna(0).to_numpy(float)
    dur = np.full(len(ms), np.nan) if duration_s is None else np.asarray(duration_s, float)
    if "reason_end" in events:
        fallback = events["reason_end"].astype(str).eq("trackdone").to_numpy()
    elif "skipped" in events:
        fallback = ~events["skipped"].fillna(False).astype(bool).to_numpy()
    else:
        fallback = ms >= 120_000
    with np.errstate(invalid="ignore"):
        by_length = ms >= FULL_FRACTION * dur * 1000.0
    return np.where(np.isfinite(dur) & (dur > 0), by_length, fallback)


def off_policy_estimate(
    log: pd.DataFrame,
    target: Mapping[str, float] | Callable[[pd.DataFrame], np.ndarray],
) -> dict[str, float]:
    """IPS and self-normalised IPS estimates of a shelf policy's full-play rate from logged slots.

    Parameters
    ----------
    log
        :attr:`Discovery.log_` (rows with a known ``reward``): ``arm``, ``propensity``, ``reward``
        and the logging probability of every arm as ``p.<arm>`` (0 where the arm had no track).
    target
        The policy to judge: a fixed shelf mix ``{arm: weight}`` (renormalised over the arms each
        slot had), or a function of the log returning the target's probability of each row's arm.

    Returns
    -------
    dict
        ``ips``, ``snips``, ``logged`` (the logging policy's own full-play rate), ``n`` (slots) and
        ``ess`` (effective sample size of the importance weights).
    """
    rows = log[log["reward"].notna()] if "reward" in log else log.iloc[:0]
    if rows.empty:
        nan = float("nan")
        return {"ips": nan, "snips": nan, "logged": nan, "n": 0, "ess": 0.0}
    if callable(target):
        p_new = np.asarray(target(rows), float)
    else:
        cols = [f"p.{a}" for a in ARMS if f"p.{a}" in rows]
        avail = rows[cols].to_numpy(float) > 0
        w = np.array([float(target.get(c[2:], 0.0)) for c in cols])
        mass = (avail * w).sum(1)
        arm_col = rows["arm"].map({c[2:]: i for i, c in enumerate(cols)}).to_numpy()
        p_new = np.where(mass > 0, w[arm_col] / np.where(mass > 0, mass, 1), 0.0)
    weight = p_new / rows["propensity"].to_numpy(float)
    r = rows["reward"].to_numpy(float)
    return {
        "ips": float(np.mean(weight * r)),
        "snips": float((weight * r).sum() / max(weight.sum(), 1e-12)),
        "logged": float(r.mean()),
        "n": len(rows),
        "ess": float(weight.sum() ** 2 / max((weight**2).sum(), 1e-12)),
    }


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
    new_artists
        Fill the "because you like <second genre>" shelf with artists the listener has never
        played (where there are any): discovery rather than more of the same.
    artist_cap
        Tracks per artist per 30 tracks.
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
        Every slot served: ``user_id``, ``week``, ``position``, ``track_id``, ``arm``, ``shelf``,
        ``score``, ``propensity``, ``p.<arm>``, ``served_at`` (UTC, ``NaT`` unless given to
        :meth:`playlist`) and, once feedback came, ``started`` and ``reward`` (1.0 full play,
        0.0 otherwise).
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
        artist_cap: int = 1,
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
        self.artist_cap = artist_cap
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
        self._global = np.zeros((len(ARMS), 2))
        self._log: list[pd.DataFrame] = []
        self._log_cache: pd.DataFrame | None = None
        self._shown: dict[str, set[int]] = {}
        self._week: dict[str, int] = {}
        self._catalogue()

    # ------------------------------------------------------------------------------------------
    def _catalogue(self) -> None:
        """Per-track arrays aligned with the recommender's tracks."""
        rec = self.rec
        n = len(rec.track_ids_)
        names = np.asarray(rec.tag_names_, dtype=str)
        self._genres = [str(c)[6:] for c in names if str(c).startswith("genre.")]
        self._moods = [str(c)[5:] for c in names if str(c).startswith("mood.")]
        gcols = [i for i, c in enumerate(names) if str(c).startswith("genre.")]
        mcols = [i for i, c in enumerate(names) if str(c).startswith("mood.")]
        self._gcols, self._mcols = np.asarray(gcols, np.int64), np.asarray(mcols, np.int64)
        self._genre_of = rec.tags_[:, gcols].argmax(1) if gcols else np.full(n, -1)
        self._mood_of = rec.tags_[:, mcols].argmax(1) if mcols else np.full(n, -1)
        meta = pd.DataFrame(index=pd.Index(rec.track_ids_, name="track_id"))
        if self.tracks is not None and "track_id" in self.tracks:
            t = self.tracks.drop_duplicates("track_id").set_index(
                self.tracks["track_id"].drop_duplicates().astype(str)
            )
            meta = t.reindex(meta.index)
        self._meta: dict[str, np.ndarray | None] = {
            c: pd.to_numeric(meta[c], errors="coerce").to_numpy(float) if c in meta else None
            for c in ("key", "mode", "tempo_bpm", "energy")
        }
        self._path = meta["path"].fillna("").astype(str).to_numpy() if "path" in meta else None
        self._new = rec.listens_ == 0
        self._new_label = "new releases"
        if "release" in meta:
            rel = pd.to_datetime(meta["release"], errors="coerce", utc=True)
            if rel.notna().any():
                self._new = (rel >= rel.max() - pd.Timedelta(days=NEW_RELEASE_DAYS)).to_numpy()
        elif not self._new.any():
            self._new_label = ""
        dur = np.asarray(rec.duration_s_, float)
        self._duration = np.where(np.isfinite(dur) & (dur > 0), dur, DEFAULT_DURATION_S)
        self._gtags = np.ascontiguousarray(rec.tags_[:, gcols], np.float32)
        self._mtags = np.ascontiguousarray(rec.tags_[:, mcols], np.float32)
        tempo = self._meta["tempo_bpm"]
        self._log_tempo = None if tempo is None else np.log2(np.where(tempo > 0, tempo, np.nan))
        self._phrase = _phrases(self._mtags, self._moods, self._gtags, self._genres)
        self._n_tracks = n

    # ------------------------------------------------------------------------------------------
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

    def _posterior(self, user: str) -> tuple[np.ndarray, np.ndarray]:
        g = self._global
        rate = (g[:, 0] + 1) / (g.sum(1) + 2)
        a0 = 1 + self.prior_strength * rate
        b0 = 1 + self.prior_strength * (1 - rate)
        c = self.counts_.get(user)
        if c is None:
            return a0, b0
        return a0 + c[:, 0], b0 + c[:, 1]

    def _probabilities(self, a: np.ndarray, b: np.ndarray, avail: Any) -> np.ndarray:
        """Chance of each arm filling a slot: Thompson sampling mixed with ``epsilon`` uniform."""
        k = int(avail.sum())
        if k == 0:
            return np.zeros(len(ARMS))
        if self.mix is not None:
            w = np.array([float(self.mix.get(arm, 0.0)) for arm in ARMS]) * avail
            if w.sum() > 0:
                return w / w.sum()
            return avail / k
        idx = np.flatnonzero(avail)
        theta = self._rng.beta(a[idx], b[idx], size=(self.draws, k))
        ts = np.bincount(theta.argmax(1), minlength=k) / self.draws
        p = np.zeros(len(ARMS))
        quota = self.discovery_share if avail[_SECOND] and k > 1 else 0.0
        p[idx] = (1 - self.epsilon - quota) * ts + self.epsilon / k
        p[_SECOND] += quota
        return p

    # ------------------------------------------------------------------------------------------
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
        u = None
        if key is not None:
            u = self._users().get(key)
        unmet: list[str] = []
        n_tracks = self._n_tracks
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
            feats = self._features(u, str(key))
            score = feats[:, 0] if self.coef_ is None else feats @ self.coef_[1:] + self.coef_[0]
            heard = rec.plays_[u].indices
        ok = np.ones(n_tracks, bool)
        ok[heard] = False
        if key is not None and self._shown.get(key):
            ok[list(self._shown[key])] = False
        if exclude is not None:
            ex = self._tracks_index().get_indexer([str(x) for x in exclude])
            ok[ex[ex >= 0]] = False
        shelves = self._shelves(u, ok, unmet)
        target_n = self.size
        if minutes is not None:
            target_n = (
                max(1, math.ceil(minutes * 60 / float(np.median(self._duration))) + 5)
                if n_tracks
                else 0
            )
        a, b = self._posterior(key or "")
        picked, arms, props, probs = self._fill(shelves, score, (a, b), target_n, minutes, unmet)
        if len(picked) < (target_n if minutes is None else 1):
            unmet.append(
                f"length: only {len(picked)} unheard tracks could be offered, not {target_n}"
            )
        elif minutes is not None and self._duration[picked].sum() < minutes * 60 - 60:
            unmet.append(
                f"length: the unheard tracks last only {self._duration[picked].sum() / 60:.0f} of {minutes:g} minutes"
            )
        idx = np.asarray(picked, np.int64)
        order, flow, notes = flow_order(
            *(None if v is None else v[idx] for v in self._meta.values()), n_tracks=len(idx)
        )
        unmet += notes
        idx, arms_a, props_a, probs_a = (
            idx[order],
            np.asarray(arms)[order],
            np.asarray(props)[order],
            probs[order],
        )
        labels = {arm: label for arm, (label, _) in shelves.items()}
        reasons = self._reasons(u, idx, arms_a, labels)
        out = pd.DataFrame(
            {
                "position": np.arange(1, len(idx) + 1),
                "track_id": rec.track_ids_[idx].astype(str),
                "shelf": [labels[a] for a in arms_a],
                "reason": reasons,
                "score": score[idx],
                "propensity": props_a.astype(float),
                "arm": arms_a.astype(str),
                "artist": rec.artist_[idx],
                "title": rec.title_[idx],
                "duration_s": np.asarray(rec.duration_s_, float)[idx],
            }
        )
        if self._path is not None:
            out["path"] = self._path[idx]
        if record and key is not None:
            self._record(key, out, probs_a, None if u is None else feats[idx], _utc(served_at))
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

    def _shelves(
        self, u: int | None, ok: np.ndarray, unmet: list[str]
    ) -> dict[str, tuple[str, np.ndarray]]:
        """Arm -> (label, mask of tracks on that shelf) for the arms that make sense here."""
        out: dict[str, tuple[str, np.ndarray]] = {
            "for_you": ("for you" if u is not None else "popular here", ok)
        }
        if self._new_label:
            out["new"] = (self._new_label, ok & self._new)
        if u is None:
            return out
        row = self.rec.evidence_[u]
        pos = row.data > 0
        liked, w = row.indices[pos], row.data[pos]
        if not len(liked):
            unmet.append("taste: no liked plays yet, so only the for-you and new-release shelves")
            return out
        taste = (w @ self.rec.tags_[liked]) / w.sum()
        # The second-genre shelf holds artists the listener has never played, where there are any.
        codes = self.rec.artist_code_
        played = np.unique(codes[self.rec.plays_[u].indices])
        fresh = ~np.isin(codes, played[played >= 0]) if self.new_artists else np.ones(len(ok), bool)
        if self.new_artists and not (ok & fresh).any():
            fresh = np.ones(len(ok), bool)
        if len(self._gcols):
            g = taste[self._gcols]
            top = np.argsort(-g, kind="stable")
            out["top_genre"] = (
                f"because you like {self._genres[top[0]]}",
                ok & (self._genre_of == top[0]),
            )
            nxt = top[1 : 1 + max(1, self.second_genres)]
            if len(nxt):
                out["second_genre"] = (
                    "because you like " + _and([self._genres[j] for j in nxt]),
                    ok & fresh & np.isin(self._genre_of, nxt),
                )
            out["outside"] = (
                "outside your usual",
                ok & ~np.isin(self._genre_of, top[: 1 + len(nxt)]),
            )
        else:
            unmet.append("shelves: the tracks have no genre.* tags, so no genre shelves")
        if len(self._mcols):
            m = int(np.argmax(taste[self._mcols]))
            out["mood"] = (f"{self._moods[m]} for you", ok & (self._mood_of == m))
        return out

    def _fill(
        self,
        shelves: dict[str, tuple[str, np.ndarray]],
        score: np.ndarray,
        posterior: tuple[np.ndarray, np.ndarray],
        n: int,
        minutes: float | None,
        unmet: list[str],
    ) -> tuple[list[int], list[str], list[float], np.ndarray]:
        """Draw a shelf per slot and take its best remaining track by MMR under the artist cap."""
        rec = self.rec
        pools = {}
        for arm, (_, mask) in shelves.items():
            cand = np.flatnonzero(mask)
            if len(cand) > self.pool:
                cand = cand[np.argpartition(-score[cand], self.pool - 1)[: self.pool]]
            pools[arm] = cand
        union = np.unique(np.concatenate(list(pools.values()))) if pools else np.zeros(0, np.int64)
        if not len(union):
            return [], [], [], np.zeros((0, len(ARMS)))
        local = {arm: np.searchsorted(union, c) for arm, c in pools.items()}
        member = np.zeros((len(ARMS), len(union)), bool)
        for i, arm in enumerate(ARMS):
            if arm in local:
                member[i, local[arm]] = True
        x = rec.X_[union]
        sc = score[union]
        lo, hi = float(sc.min()), float(sc.max())
        rel = (sc - lo) / max(hi - lo, 1e-12)
        artist = np.asarray(rec.artist_code_, np.int64)[union]
        known = artist >= 0
        code = np.where(known, artist, 0)
        counts = np.zeros(int(code.max()) + 1, np.int64)
        cap = self.artist_cap * max(1, math.ceil(n / 30)) if self.artist_cap > 0 else len(union)
        used = np.zeros(len(union), bool)
        max_sim = np.zeros(len(union))
        a, b = posterior
        cache: dict[bytes, np.ndarray] = {}
        picked: list[int] = []
        arms: list[str] = []
        props: list[float] = []
        probs: list[np.ndarray] = []
        total = 0.0
        relaxed = False
        while len(picked) < n and (
            minutes is None or total < minutes * 60 - 0.5 * DEFAULT_DURATION_S
        ):
            free = ~used & ~(known & (counts[code] >= cap))
            avail = (member & free).any(1)
            if not avail.any():
                if not (~used).any():
                    break
                cap += 1
                relaxed = True
                continue
            ck = avail.tobytes()
            if ck not in cache:
                cache[ck] = self._probabilities(a, b, avail)
            p = cache[ck]
            arm_i = int(np.searchsorted(np.cumsum(p), self._rng.random() * p.sum(), side="right"))
            arm_i = min(arm_i, len(ARMS) - 1)
            cand = local[ARMS[arm_i]]
            cand = cand[free[cand]]
            val = (1 - self.diversity) * rel[cand] - self.diversity * max_sim[cand]
            j = int(cand[np.argmax(val)])
            used[j] = True
            if known[j]:
                counts[code[j]] += 1
            max_sim = np.maximum(max_sim, x @ x[j])
            picked.append(int(union[j]))
            arms.append(ARMS[arm_i])
            props.append(float(p[arm_i]))
            probs.append(p)
            total += self._duration[union[j]]
        if relaxed:
            n_art = len(np.unique(artist[known]))
            unmet.append(
                f"artist cap: only {n_art} artist(s) among the candidates, so up to {cap} tracks per artist"
            )
        return picked, arms, props, np.asarray(probs).reshape(-1, len(ARMS))

    def _reasons(
        self, u: int | None, idx: np.ndarray, arms: np.ndarray, labels: dict[str, str]
    ) -> list[str]:
        """Shelf, then what in the listener's history the track relates to."""
        rec = self.rec
        liked = self._liked(u)[0] if u is not None else np.zeros(0, np.int64)
        near = np.full(len(idx), -1)
        if len(liked) and len(idx):
            sims = rec.X_[idx] @ rec.X_[liked].T
            best = sims.argmax(1)
            near = np.where(sims[np.arange(len(idx)), best] >= 0.5, liked[best], -1)
        liked_artists = set(rec.artist_code_[liked].tolist()) - {-1}
        out = []
        for k, j in enumerate(idx):
            parts = [self._phrase[j]] if self._phrase[j] else []
            if near[k] >= 0 and near[k] != j:
                parts.append(f"sounds like {_name(rec, int(near[k]))}, which you like")
            if rec.artist_code_[j] in liked_artists:
                parts.append(f"by {rec.artist_[j] or 'an artist'}, whom you play")
            if rec.listens_[j] == 0:
                parts.append("new: nobody has played it yet")
            elif u is None:
                parts.append(
                    f"{rec.listens_[j]} listeners here; a default: no listening history yet"
                )
            out.append(f"{labels[arms[k]]}: " + "; ".join(parts) if parts else labels[arms[k]])
        return out

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
        n = len(out)
        # One frame from a dict of columns: inserting ~25 columns one by one cost ~10 ms a
        # playlist, half of the whole playlist's time on a 20,000-track catalogue.
        cols: dict[str, Any] = {
            "user_id": np.full(n, user, dtype=object),
            "round": np.full(n, self._round, np.int64),
            "week": np.full(n, week, np.int64),
        }
        for c in ("position", "track_id", "arm", "shelf", "score", "propensity"):
            cols[c] = out[c].to_numpy()
        for i, arm in enumerate(ARMS):
            cols[f"p.{arm}"] = probs[:, i] if len(probs) else np.zeros(n)
        for i, name in enumerate(FEATURES):
            cols[f"f.{name}"] = np.full(n, np.nan) if feats is None else feats[:, i]
        cols["served_at"] = pd.DatetimeIndex(
            [pd.NaT if served_at is None else served_at] * n, dtype="datetime64[ns, UTC]"
        )
        cols["started"] = pd.array([pd.NA] * n, dtype="boolean")
        cols["reward"] = np.full(n, np.nan)
        rows = pd.DataFrame(cols, index=out.index)
        self._log.append(rows)
        self._log_cache = None
        shown = self._shown.setdefault(user, set())
        shown.update(self._tracks_index().get_indexer(cols["track_id"]).tolist())

    @property
    def log_(self) -> pd.DataFrame:
        if self._log_cache is None:
            self._log_cache = (
                pd.concat(self._log, ignore_index=True)
                if self._log
                else pd.DataFrame(
                    columns=[
                        "user_id",
                        "week",
                        "position",
                        "track_id",
                        "arm",
                        "shelf",
                        "score",
                        "propensity",
                        "served_at",
                        "started",
                        "reward",
                    ]
                )
            )
            self._log = [self._log_cache] if self._log else []
        return self._log_cache

    # ------------------------------------------------------------------------------------------
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
        self._n_tracks = len(self.rec.track_ids_)
        dur = pd.Series(np.asarray(self.rec.duration_s_, float), index=self.rec.track_ids_)
        full = full_plays(ev, ev["track_id"].map(dur).to_numpy(float))
        ti = self._tracks_index().get_indexer(ev["track_id"].astype(str))
        sign = np.where(
            full, 1.0, np.where(ev["ms_played"].to_numpy(float) < SKIP_S * 1000, -1.0, 0.0)
        )
        sign[ti < 0] = 0.0
        by_user = pd.Series(np.arange(len(ev))).groupby(ev["user_id"].astype(str).to_numpy())
        for user, rows in by_user:
            i = rows.to_numpy()
            vec = sign[i] @ self.rec.X_[np.maximum(ti[i], 0)]
            old = self._recent.get(str(user))
            self._recent[str(user)] = vec if old is None else self.discount * old + vec
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
        log.loc[sub["index"], "started"] = started
        log.loc[sub["index"], "reward"] = reward
        arm_i = sub["arm"].map({a: i for i, a in enumerate(ARMS)}).to_numpy()
        for user, rows in pd.DataFrame(
            {"u": sub["user_id"], "a": arm_i, "r": reward, "s": started}
        ).groupby("u"):
            c = self.counts_.setdefault(str(user), np.zeros((len(ARMS), 2))) * self.discount
            s = rows[rows["s"]]
            np.add.at(c[:, 0], s["a"].to_numpy(), s["r"].to_numpy())
            np.add.at(c[:, 1], s["a"].to_numpy(), 1 - s["r"].to_numpy())
            self.counts_[str(user)] = c
        self._global = sum(self.counts_.values(), np.zeros((len(ARMS), 2)))
        if self.learn:
            self._fit_ranker()
        self._round += 1
        return self

    # ------------------------------------------------------------------------------------------
    def last_served(self, user: str) -> pd.Timestamp | None:
        """When ``user``'s latest logged playlist was served (``None``: never, or not given)."""
        log = self.log_
        t = log.loc[log["user_id"] == str(user), "served_at"] if len(log) else log["served_at"]
        t = t.dropna()
        return None if t.empty else pd.Timestamp(t.max())

    def new_feedback(self, events: pd.DataFrame) -> pd.DataFrame:
        """The events that answer logged playlists: each listener's events later than their
        latest playlist's ``served_at``. Listeners without a timed playlist contribute nothing."""
        log = self.log_
        if log.empty or "timestamp" not in events or events.empty:
            return events.iloc[:0]
        since = log.dropna(subset=["served_at"]).groupby("user_id")["served_at"].max()
        if since.empty:
            return events.iloc[:0]
        ts = pd.to_datetime(events["timestamp"], utc=True, errors="coerce")
        after = events["user_id"].astype(str).map(since)
        keep = (ts > pd.to_datetime(after, utc=True)).fillna(False).to_numpy(bool)
        return events.loc[keep]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bandit's beliefs, the impressions log (with propensities), the re-ranker and
        the random stream to a JSON file, atomically (a temporary file renamed over ``path``, so
        a killed run leaves the old state or the new one, never half of one).

        The recommender and the tracks frame are not saved: :meth:`load` takes them.
        """
        path = Path(path)
        ids = self.rec.track_ids_
        users: dict[str, Any] = {}
        for user in sorted(set(self.counts_) | set(self._week) | set(self._shown)):
            c = self.counts_.get(user)
            r = self._recent.get(user)
            shown = sorted(i for i in self._shown.get(user, ()) if 0 <= i < len(ids))
            users[user] = {
                "counts": None if c is None else c.tolist(),
                "week": self._week.get(user, 0),
                "recent": None if r is None else np.asarray(r, float).tolist(),
                "shown": [str(ids[i]) for i in shown],
            }
        log = self.log_
        columns: dict[str, list[Any]] = {}
        for col in log.columns:
            v = log[col]
            if col == "served_at":
                t = pd.to_datetime(v, utc=True)
                columns[col] = [None if pd.isna(x) else x.isoformat() for x in t]
            elif col == "started":
                columns[col] = [None if pd.isna(x) else bool(x) for x in v]
            elif pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
                a = v.to_numpy(float)
                columns[col] = [None if not np.isfinite(x) else float(x) for x in a]
            else:
                columns[col] = [None if pd.isna(x) else str(x) for x in v]
        doc = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "arms": list(ARMS),
            "features": list(FEATURES),
            "params": {k: getattr(self, k) for k in _PARAMS},
            "round": self._round,
            "coef": None if self.coef_ is None else self.coef_.tolist(),
            "rng": self._rng.bit_generator.state,
            "users": users,
            "log": columns,
        }
        text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
        _atomic_write(path, text)
        return path

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
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(path, "no such discovery state file") from None
        except OSError as exc:
            raise InputError(path, f"cannot read the discovery state ({exc.strerror})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(
                path, f"corrupt discovery state: not JSON ({exc}); delete it to start afresh"
            ) from None
        try:
            return cls._from_state(doc, recommender, tracks)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise InputError(
                path,
                f"corrupt discovery state ({type(exc).__name__}: {msg}); delete it to start afresh",
            ) from None

    @classmethod
    def _from_state(cls, doc: Any, rec: Recommender, tracks: pd.DataFrame | None) -> Discovery:
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise ValueError("not an audiotaste discovery state")
        if doc.get("version") != STATE_VERSION:
            raise ValueError(
                f"version {doc.get('version')!r}, this audiotaste reads {STATE_VERSION}"
            )
        if list(doc["arms"]) != list(ARMS) or list(doc["features"]) != list(FEATURES):
            raise ValueError("written for other shelves or re-ranker features")
        params = dict(doc["params"])
        unknown = set(params) - set(_PARAMS)
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}")
        size = params.pop("size")
        disc = cls(rec, size, tracks=tracks, **params)
        disc._round = int(doc["round"])
        coef = doc["coef"]
        if coef is not None:
            disc.coef_ = np.asarray(coef, float)
            if disc.coef_.shape != (len(FEATURES) + 1,) or not np.isfinite(disc.coef_).all():
                raise ValueError("re-ranker coefficients of the wrong shape or not finite")
        disc._rng.bit_generator.state = doc["rng"]
        index = disc._tracks_index()
        width = rec.X_.shape[1]
        for user, st in dict(doc["users"]).items():
            if st["counts"] is not None:
                c = np.asarray(st["counts"], float)
                if c.shape != (len(ARMS), 2) or not np.isfinite(c).all() or (c < 0).any():
                    raise ValueError(f"counts of {user!r} are not {len(ARMS)} x 2 non-negative")
                disc.counts_[str(user)] = c
            disc._week[str(user)] = int(st["week"])
            if st["recent"] is not None and len(st["recent"]) == width:
                disc._recent[str(user)] = np.asarray(st["recent"], float)
            pos = index.get_indexer([str(t) for t in st["shown"]])
            disc._shown[str(user)] = set(pos[pos >= 0].tolist())
        disc._global = sum(disc.counts_.values(), np.zeros((len(ARMS), 2)))
        cols = dict(doc["log"])
        if cols:
            lengths = {len(v) for v in cols.values()}
            if len(lengths) != 1:
                raise ValueError("log columns of different lengths")
            log = pd.DataFrame(cols)
            for c in log.columns:
                if c in ("user_id", "track_id", "arm", "shelf"):
                    log[c] = log[c].astype(str)
                elif c == "served_at":
                    log[c] = pd.to_datetime(log[c], utc=True)
                elif c == "started":
                    log[c] = log[c].astype("boolean")
                elif c in ("round", "week", "position"):
                    log[c] = log[c].astype(np.int64)
                else:
                    log[c] = log[c].astype(float)
            if len(log) and not set(log["arm"]) <= set(ARMS):
                raise ValueError(f"log has unknown shelves {sorted(set(log['arm']) - set(ARMS))}")
            disc._log = [log] if len(log) else []
        return disc

    # ------------------------------------------------------------------------------------------
    def _features(self, u: int, user: str) -> np.ndarray:
        """:data:`FEATURES` of every track for listener ``u``, ``[n_tracks, n_features]``."""
        rec = self.rec
        n = len(rec.track_ids_)
        out = np.zeros((n, len(FEATURES)))
        # the recommender's score (Recommender.score), without copying the catalogue's factors
        out[:, 0] = rec.item_factors_ @ rec.user_factors_[u]
        if rec.content_weight:
            out[:, 0] += rec.content_weight * (rec.X_ @ rec.taste_[u])
        liked, w = self._liked(u)
        if len(liked):
            w = w / w.sum()
            for col, tags in ((1, self._gtags), (2, self._mtags)):
                if tags.shape[1]:
                    out[:, col] = tags @ (w @ tags[liked])
            liked_artists = np.unique(rec.artist_code_[liked])
            out[:, 3] = np.isin(rec.artist_code_, liked_artists[liked_artists >= 0])
            for col, v, fold in ((4, self._meta["energy"], False), (5, self._log_tempo, True)):
                if v is None or not np.isfinite(v[liked]).any():
                    continue
                ok = np.isfinite(v[liked])
                gap = np.abs(v - np.average(v[liked][ok], weights=w[ok] + 1e-12))
                if fold:
                    gap = np.minimum(gap, np.abs(gap - 1))  # octave errors
                out[:, col] = np.where(np.isfinite(gap), gap, 0.5 if fold else 0.25)
        recent = self._recent.get(user)
        if recent is not None:
            out[:, 6] = rec.X_ @ (recent / max(float(np.linalg.norm(recent)), 1e-9))
        return out

    def _liked(self, u: int) -> tuple[np.ndarray, np.ndarray]:
        """Tracks with positive evidence for listener ``u`` and that evidence."""
        row = self.rec.evidence_[u]
        pos = row.data > 0
        return row.indices[pos], row.data[pos].astype(float)

    def _fit_ranker(self) -> None:
        """Weighted L2 logistic regression of full play on :data:`FEATURES` (Newton steps)."""
        log = self.log_
        rows = log[log["started"].fillna(False).astype(bool) & log["f.score"].notna()]
        if len(rows) < 200 or rows["reward"].nunique() < 2:
            return
        x = rows[[f"f.{f}" for f in FEATURES]].to_numpy(float)
        y = rows["reward"].to_numpy(float)
        sw = self.discount ** (self._round - rows["round"].to_numpy(float))
        mu, sd = x.mean(0), x.std(0)
        sd = np.where(sd > 1e-9, sd, 1.0)
        z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
        beta = np.zeros(z.shape[1])
        ridge = np.eye(z.shape[1]) * 1.0
        ridge[0, 0] = 0.0
        for _ in range(25):
            p = 1 / (1 + np.exp(-(z @ beta)))
            grad = z.T @ (sw * (y - p)) - ridge @ beta
            hess = (z * (sw * p * (1 - p))[:, None]).T @ z + ridge
            step = np.linalg.solve(hess, grad)
            beta += step
            if np.abs(step).max() < 1e-6:
                break
        # Fold the standardisation into the coefficients: score = coef_[0] + x @ coef_[1:].
        coef = beta[1:] / sd
        self.coef_ = np.concatenate([[beta[0] - mu @ coef], coef])


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _utc(t: pd.Timestamp | str | None) -> pd.Timestamp | None:
    if t is None:
        return None
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a synced temporary file in the same folder and a rename."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InputError(path, f"cannot write the discovery state ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(path, f"cannot write the discovery state ({exc.strerror})") from None
    try:  # the rename itself survives a power cut only once the folder is synced
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _phrases(
    mtags: np.ndarray, moods: list[str], gtags: np.ndarray, genres: list[str]
) -> np.ndarray:
    """``"calm jazz"`` per track: its strongest mood and genre where they are clear (>= 0.3)."""
    words = np.full(len(mtags) if len(mtags) else len(gtags), "", dtype=object)
    for tags, names in ((mtags, moods), (gtags, genres)):
        if not tags.shape[1]:
            continue
        top = tags.argmax(1)
        strong = tags[np.arange(len(tags)), top] >= 0.3
        w = np.where(strong, np.asarray(names, dtype=object)[top], "")
        words = np.where((words != "") & (w != ""), words + " " + w, words + w)
    return words


def _name(rec: Recommender, j: int) -> str:
    # the recommender's own naming, so that untagged files are named by their file name here too
    return rec._name(j)
