"""The discovery re-ranker: a logistic model of "finished it" learned from the playlists' own log.

Until feedback arrives the recommender's score ranks alone; from then on tracks are ranked by the
log-odds of a full play given :data:`FEATURES`, fitted on the logged outcomes (recent rounds
weigh more), so what the playlists learn is not diluted in months of history.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from audiotaste.recommend.finish import comfort_gap, track_finish_odds
from audiotaste.recommend.profile import SKIP_S
from audiotaste.recommend.shelves import ShelfCatalogue

#: Per (listener, track) inputs: the recommender's score; the listener's liked genre and mood mix
#: dotted with the track's tags; whether they like the artist; the gaps to the energy and
#: (octave-folded, log2) tempo their finishes centre on (:func:`~.finish.comfort_centre`);
#: cosine with their recent feedback (finished minus skipped tracks of past playlists, discounted
#: weekly); how many listeners played the track (log1p); the score's collaborative and content
#: parts apart (they predict finishing differently from world to world: the collaborative part
#: ranks artists new to a listener better where taste is latent); and the odds that the track's
#: listeners kept it (:func:`~.finish.track_finish_odds`).
FEATURES = (
    "score",
    "genre_match",
    "mood_match",
    "liked_artist",
    "energy_gap",
    "tempo_gap",
    "recent",
    "popularity",
    "collaborative",
    "content",
    "finish_odds",
)
#: Started slots needed before the re-ranker is fitted.
MIN_ROWS = 200
#: Liked tracks by an artist after which the listener has adopted that artist.
ADOPTED = 2


def liked(rec: Any, u: int) -> tuple[np.ndarray, np.ndarray]:
    """Tracks with positive evidence for listener ``u`` and that evidence."""
    row = rec.evidence_[u]
    pos = row.data > 0
    return row.indices[pos], row.data[pos].astype(float)


def _finish_odds(rec: Any) -> np.ndarray:
    """:func:`~.finish.track_finish_odds` of ``rec``'s evidence, computed once per evidence matrix
    (``partial_fit`` replaces it), not once per listener: a pass over every event each time."""
    cached = getattr(rec, "_finish_odds_cache", None)
    if cached is None or cached[0] is not rec.evidence_:
        cached = (rec.evidence_, track_finish_odds(rec.evidence_, rec.listens_))
        rec._finish_odds_cache = cached
    return cached[1]


def features(rec: Any, cat: ShelfCatalogue, u: int, recent: np.ndarray | None) -> np.ndarray:
    """:data:`FEATURES` of every track for listener ``u``, ``[n_tracks, n_features]``."""
    out = np.zeros((len(rec.track_ids_), len(FEATURES)))
    collaborative, content = rec._score_parts(np.array([u]))  # the recommender's score, in parts
    out[:, 0] = collaborative[0] + content[0] + rec.bias_
    out[:, 7] = np.log1p(np.asarray(rec.listens_, float))
    out[:, 8] = collaborative[0]
    out[:, 9] = content[0]
    tracks, w = liked(rec, u)
    if len(tracks):
        w = w / w.sum()
        for col, tags in ((1, cat.gtags), (2, cat.mtags)):
            if tags.shape[1]:
                out[:, col] = tags @ (w @ tags[tracks])
        liked_artists = np.unique(rec.artist_code_[tracks])
        out[:, 3] = np.isin(rec.artist_code_, liked_artists[liked_artists >= 0])
    row = rec.evidence_[u]
    for col, name, fold in ((4, "energy", False), (5, "log_tempo", True)):
        v = cat.meta["energy"] if name == "energy" else cat.log_tempo
        gap = comfort_gap(v, row.indices, row.data, fold=fold, unknown=0.5 if fold else 0.25,
                          grid=cat.comfort_grids[name])
        if gap is not None:
            out[:, col] = gap
    out[:, 10] = _finish_odds(rec)
    if recent is not None:
        out[:, 6] = rec.X_ @ (recent / max(float(np.linalg.norm(recent)), 1e-9))
    return out


def unadopted(rec: Any, u: int) -> np.ndarray:
    """Mask of the tracks whose artist listener ``u`` has not adopted yet: fewer than
    :data:`ADOPTED` of the artist's tracks have positive evidence (never played, or found once).
    Tracks without an artist are left out (False)."""
    codes = np.asarray(rec.artist_code_, np.int64)
    tracks, _ = liked(rec, u)
    artist, n = np.unique(codes[tracks], return_counts=True)
    return (codes >= 0) & ~np.isin(codes, artist[n >= ADOPTED])


def worth(rec: Any, u: int, log_odds: np.ndarray, value: float) -> np.ndarray:
    """Log of each track's expected worth in listener ``u``'s playlist: ``p(full) * (1 + value)``
    for an artist they have not adopted yet (:func:`unadopted`), ``p(full)`` otherwise, from the
    re-ranker's log-odds. With ``value`` 0.5 a track finished with probability 0.5 by an artist
    to discover ranks above one finished with 0.7 by an adopted artist (0.75 > 0.7), below one
    finished with 0.8."""
    log_p = -np.logaddexp(0.0, -np.asarray(log_odds, float))
    return log_p + np.log1p(value) * unadopted(rec, u)


def fit_ranker(log: pd.DataFrame, *, round_: int, discount: float) -> np.ndarray | None:
    """L2 logistic regression of full play on :data:`FEATURES` over the started slots of ``log``,
    each weighted by ``discount ** (rounds ago)``.

    Returns
    -------
    numpy.ndarray or None
        ``[intercept, coefficients...]`` on the raw features (the standardisation folded in), or
        ``None`` with fewer than :data:`MIN_ROWS` started slots or a single outcome.
    """
    rows = log[log["started"].fillna(False).astype(bool) & log["f.score"].notna()]
    if len(rows) < MIN_ROWS or rows["reward"].nunique() < 2:
        return None
    x = rows[[f"f.{f}" for f in FEATURES]].to_numpy(float)
    y = rows["reward"].to_numpy(float).astype(int)
    sw = discount ** (round_ - rows["round"].to_numpy(float))
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 1e-9, sd, 1.0)
    model = LogisticRegression(C=1.0, max_iter=200).fit((x - mu) / sd, y, sample_weight=sw)
    coef = model.coef_[0] / sd
    return np.concatenate([[model.intercept_[0] - mu @ coef], coef])


def update_recent(
    recent: dict[str, np.ndarray],
    events: pd.DataFrame,
    full: np.ndarray,
    track_index: np.ndarray,
    x: np.ndarray,
    *,
    discount: float,
) -> None:
    """Fold feedback into each listener's ``recent`` content vector (in place): old vector times
    ``discount``, plus full plays minus early skips (shorter than ``SKIP_S``); tracks not in the
    catalogue (``track_index`` -1) count for nothing."""
    sign = np.where(
        full, 1.0, np.where(events["ms_played"].to_numpy(float) < SKIP_S * 1000, -1.0, 0.0)
    )
    sign[track_index < 0] = 0.0
    by_user = pd.Series(np.arange(len(events))).groupby(events["user_id"].astype(str).to_numpy())
    for user, rows in by_user:
        i = rows.to_numpy()
        vec = sign[i] @ x[np.maximum(track_index[i], 0)]
        old = recent.get(str(user))
        recent[str(user)] = vec if old is None else discount * old + vec
