"""A listener's taste profile from their plays, listen lengths and skips."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from audiotaste.errors import InputError
from audiotaste.recommend.content import ContentSpace
from audiotaste.recommend.events import clean_events
from audiotaste.recommend.explain import file_artist_title

KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
#: Plays shorter than this are early skips: negative evidence.
SKIP_S = 30.0
HALF_LIFE_DAYS = 90.0


def evidence(
    events: pd.DataFrame,
    duration_s: pd.Series | np.ndarray | None,
    *,
    skip_s: float = SKIP_S,
    half_life_days: float = HALF_LIFE_DAYS,
    ref_time: pd.Timestamp | None = None,
) -> np.ndarray:
    """Signed, recency-weighted evidence of liking for each event.

    A full or long listen (at least half the track, or 4 minutes) counts +1, an early skip (under
    ``skip_s`` seconds, and under half the track) -1, any other partial listen +0.25; each is multiplied by ``0.5 ** (age / half_life)``,
    with age measured back from ``ref_time`` (default: the latest event).

    Parameters
    ----------
    events
        Cleaned events.
    duration_s
        Track duration per event, seconds (NaN where unknown: then only ``ms_played`` counts).
    """
    ms = events["ms_played"].to_numpy(np.float64)
    dur = np.full(len(ms), np.nan) if duration_s is None else np.asarray(duration_s, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = ms / (dur * 1000.0)
    long = (frac >= 0.5) | (ms >= 240_000) | (np.isnan(frac) & (ms >= 120_000))
    # A track shorter than skip_s played to the end is a full listen, not a skip.
    base = np.where(long, 1.0, np.where(ms < skip_s * 1000.0, -1.0, 0.25))
    if len(events) == 0:
        return base
    ts = events["timestamp"]
    ref = ts.max() if ref_time is None else ref_time
    age_days = ((ref - ts).dt.total_seconds() / 86400.0).to_numpy()
    return base * 0.5 ** (age_days / half_life_days)


@dataclass(frozen=True)
class TasteProfile:
    """What a listener likes, from their history.

    Attributes
    ----------
    user_id : str
    n_plays : int
        Plays in the history.
    is_default : bool
        True for a listener with no usable history: every preference is the catalogue's average.
    label : str
        One line describing the profile (says so when it is a default).
    genres, moods : mapping of str to float
        Recency-weighted mean tag probability of the listener's plays, skips counting against it
        (can be negative), highest first.
    tempo_range : tuple of float
        10th-90th percentile tempo of liked plays, BPM.
    energy, danceability : float
        Mean of liked plays, 0-1.
    keys : mapping of str to float
        Share of liked plays per key and mode (``"A minor"``), top five.
    top_artists : mapping of str to float
        Recency-weighted liked plays per artist, top ten.
    skip_rate : float
        Share of plays skipped in the first 30 seconds.
    mean_listened_fraction : float
        Mean share of each track listened to (plays of tracks with a known duration).
    openness : float
        0 (always the same sound) to 1 (all over the catalogue): one minus the length of the mean
        content vector of liked plays.
    drift : list of dict
        Week by week: ``week`` (ISO date of its Monday), ``plays``, ``top_genre`` and
        ``similarity`` (cosine between that week's liked sound and the whole profile's).
    """

    user_id: str
    n_plays: int
    is_default: bool
    label: str
    genres: dict[str, float] = field(default_factory=dict)
    moods: dict[str, float] = field(default_factory=dict)
    tempo_range: tuple[float, float] | None = None
    energy: float | None = None
    danceability: float | None = None
    keys: dict[str, float] = field(default_factory=dict)
    top_artists: dict[str, float] = field(default_factory=dict)
    skip_rate: float | None = None
    mean_listened_fraction: float | None = None
    openness: float | None = None
    drift: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame,
        tracks: pd.DataFrame,
        user_id: str | None = None,
        *,
        half_life_days: float = HALF_LIFE_DAYS,
        skip_s: float = SKIP_S,
    ) -> TasteProfile:
        """Build the profile of ``user_id`` (may be omitted when the events hold one listener).

        Raises
        ------
        InputError
            ``user_id`` not in the events, or omitted when they hold several listeners, or a tracks
            frame without content columns.
        """
        events, _ = clean_events(events)
        users = events["user_id"].unique()
        if user_id is None:
            if len(users) > 1:
                raise InputError(
                    None, f"the events hold {len(users)} listeners; name one with user_id"
                )
            user_id = str(users[0]) if len(users) else "new listener"
        elif len(users) and user_id not in set(users):
            raise InputError(None, f"no listener {user_id!r} in the events ({_some(users)})")
        space = ContentSpace.fit(tracks)
        tr = tracks.drop_duplicates("track_id").set_index(
            tracks["track_id"].drop_duplicates().astype(str)
        )
        ev = events[(events["user_id"] == user_id) & events["track_id"].isin(tr.index)]
        if ev.empty:
            return cls(
                user_id, 0, True, "no listening history yet: a default profile (catalogue averages)"
            )
        t = tr.loc[ev["track_id"]]
        dur = t["duration_s"].to_numpy(float) if "duration_s" in t else None
        w = evidence(ev, dur, skip_s=skip_s, half_life_days=half_life_days)
        pos = np.clip(w, 0, None)
        like = pos.sum() > 0
        wpos = pos / pos.sum() if like else np.full(len(w), 1.0 / len(w))

        def tag_weights(prefix: str) -> dict[str, float]:
            cols = [c for c in t.columns if str(c).startswith(prefix)]
            if not cols:
                return {}
            p = t[cols].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy(float)
            s = (w[:, None] * p).sum(0) / max(np.abs(w).sum(), 1e-12)
            order = np.argsort(-s)
            return {cols[j][len(prefix) :]: round(float(s[j]), 4) for j in order}

        def mean_of(col: str) -> float | None:
            if col not in t:
                return None
            v = pd.to_numeric(t[col], errors="coerce").to_numpy(float)
            ok = np.isfinite(v)
            return (
                round(float(np.average(v[ok], weights=wpos[ok] + 1e-12)), 4) if ok.any() else None
            )

        tempo_range = None
        if "tempo_bpm" in t:
            v = pd.to_numeric(t["tempo_bpm"], errors="coerce").to_numpy(float)
            ok = np.isfinite(v) & (v > 0)
            if ok.any():
                lo, hi = _weighted_quantile(v[ok], wpos[ok] + 1e-12, [0.1, 0.9])
                tempo_range = (round(lo, 1), round(hi, 1))
        keys: dict[str, float] = {}
        if {"key", "mode"} <= set(t.columns):
            k = pd.to_numeric(t["key"], errors="coerce").fillna(-1).astype(int).to_numpy()
            mo = pd.to_numeric(t["mode"], errors="coerce").fillna(1).astype(int).to_numpy()
            names = [
                f"{KEY_NAMES[a]} {'major' if b == 1 else 'minor'}" if 0 <= a < 12 else ""
                for a, b in zip(k, mo, strict=True)
            ]
            s = pd.Series(wpos, index=names).groupby(level=0).sum().drop("", errors="ignore")
            keys = {str(a): round(float(b), 4) for a, b in s[s > 0].nlargest(5).items()}
        s = pd.Series(pos, index=artist_names(t)).groupby(level=0).sum().drop("", errors="ignore")
        artists = {str(a): round(float(b), 3) for a, b in s[s > 0].nlargest(10).items()}
        ms = ev["ms_played"].to_numpy(float)
        frac = ms / (dur * 1000.0) if dur is not None else np.full(len(ms), np.nan)
        frac = frac[np.isfinite(frac)]
        x = space.transform(t)
        centre = (wpos[:, None] * x).sum(0)
        openness = float(np.clip(1 - np.linalg.norm(centre), 0, 1))
        genres, moods = tag_weights("genre."), tag_weights("mood.")
        drift = _drift(ev, x, wpos, centre, t)
        label = _label(genres, moods, tempo_range)
        return cls(
            user_id=user_id,
            n_plays=len(ev),
            is_default=False,
            label=label,
            genres=genres,
            moods=moods,
            tempo_range=tempo_range,
            energy=mean_of("energy"),
            danceability=mean_of("danceability"),
            keys=keys,
            top_artists=artists,
            skip_rate=round(float((w < 0).mean()), 4),
            mean_listened_fraction=round(float(np.clip(frac, 0, 1).mean()), 4)
            if len(frac)
            else None,
            openness=round(openness, 4),
            drift=drift,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "n_plays": self.n_plays,
            "is_default": self.is_default,
            "label": self.label,
            "genres": dict(self.genres),
            "moods": dict(self.moods),
            "tempo_range": list(self.tempo_range) if self.tempo_range else None,
            "energy": self.energy,
            "danceability": self.danceability,
            "keys": dict(self.keys),
            "top_artists": dict(self.top_artists),
            "skip_rate": self.skip_rate,
            "mean_listened_fraction": self.mean_listened_fraction,
            "openness": self.openness,
            "drift": [dict(d) for d in self.drift],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _drift(
    ev: pd.DataFrame, x: np.ndarray, wpos: np.ndarray, centre: np.ndarray, t: pd.DataFrame
) -> list[dict[str, Any]]:
    week = (
        ev["timestamp"]
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
        .dt.to_period("W-SUN")
        .dt.start_time
    )
    gcols = [c for c in t.columns if str(c).startswith("genre.")]
    out = []
    norm_c = max(float(np.linalg.norm(centre)), 1e-12)
    for wk, idx in pd.Series(np.arange(len(ev)), index=week.to_numpy()).groupby(level=0):
        i = idx.to_numpy()
        ww = wpos[i]
        v = (ww[:, None] * x[i]).sum(0)
        sim = float(v @ centre / max(np.linalg.norm(v) * norm_c, 1e-12))
        top = None
        if gcols and ww.sum() > 0:
            g = (ww[:, None] * t[gcols].iloc[i].fillna(0).to_numpy(float)).sum(0)
            top = gcols[int(np.argmax(g))][len("genre.") :]
        out.append(
            {
                "week": pd.Timestamp(wk).date().isoformat(),
                "plays": len(i),
                "top_genre": top,
                "similarity": round(sim, 3),
            }
        )
    return out


def artist_names(tracks: pd.DataFrame) -> np.ndarray:
    """Each track's artist: the ``artist`` tag, else read from the file name (``Artist - Title``,
    ``artist_name-title``), else ``""``; untagged files still have an artist worth naming."""
    tagged = (
        tracks["artist"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
        if "artist" in tracks
        else np.full(len(tracks), "", dtype=object)
    )
    if "path" not in tracks:
        return tagged
    paths = tracks["path"].fillna("").astype(str).to_numpy()
    return np.array(
        [
            a or (string.capwords(file_artist_title(p)[0]) if p else "")
            for a, p in zip(tagged, paths, strict=True)
        ],
        dtype=object,
    )


def _label(
    genres: dict[str, float], moods: dict[str, float], tempo: tuple[float, float] | None
) -> str:
    words = [k for k, v in list(moods.items())[:1] if v > 0] + [
        k for k, v in list(genres.items())[:2] if v > 0
    ]
    s = " ".join(words[:2]) + (f" and {words[2]}" if len(words) > 2 else "")
    if tempo:
        s += f" at {tempo[0]:.0f}-{tempo[1]:.0f} BPM"
    return s.strip() or "listening history without tags"


def _weighted_quantile(v: np.ndarray, w: np.ndarray, q: list[float]) -> list[float]:
    o = np.argsort(v)
    c = np.cumsum(w[o]) / w.sum()
    return [float(v[o][min(int(np.searchsorted(c, qq)), len(v) - 1)]) for qq in q]


def _some(ids: Any) -> str:
    ids = sorted(map(str, ids))
    return (
        "listeners: " + ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    )


def evidence_matrices(
    events: pd.DataFrame,
    users: np.ndarray,
    items: np.ndarray,
    shape: tuple[int, int],
    duration_s: np.ndarray,
    *,
    skip_s: float = SKIP_S,
    half_life_days: float = HALF_LIFE_DAYS,
    ref_time: pd.Timestamp | None = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Signed :func:`evidence` and play counts as ``shape`` (users x tracks) CSR matrices.

    ``users`` and ``items`` are each event's row and column; ``duration_s`` each event's track
    length (NaN unknown).
    """
    w = evidence(
        events, duration_s, skip_s=skip_s, half_life_days=half_life_days, ref_time=ref_time
    )
    s = sp.csr_matrix((w.astype(np.float32), (users, items)), shape=shape)
    p = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=shape)
    s.sum_duplicates()
    p.sum_duplicates()
    return s, p
