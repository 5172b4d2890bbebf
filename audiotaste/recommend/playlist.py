"""Playlists that flow: pick diverse unheard tracks from a recommender's candidates, then order them.

Selection is maximal marginal relevance (Carbonell & Goldstein 1998) over the candidates' content
vectors with an artist cap. The order is a small local search over three costs between neighbours
and positions: harmonic distance on the Camelot wheel (same number, or one step around, or the
relative major/minor, counts as compatible), the tempo step (octave-folded, so 70 -> 140 BPM is a
smooth mix), and the distance from an energy arc that rises to a peak two thirds in and settles.

Nothing here raises for thin input: a constraint that cannot be met (too few candidates or
artists, unknown keys, tempi, energies or durations) is named in :attr:`Playlist.unmet` instead.
"""

from __future__ import annotations

import json
import math
import os
import string
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audiotaste.errors import InputError
from audiotaste.recommend.content import ContentSpace
from audiotaste.recommend.explain import file_artist_title
from audiotaste.recommend.flow import camelot, camelot_distance, flow_order

__all__ = [
    "DEFAULT_DURATION_S",
    "Playlist",
    "build_playlist",
    "camelot",
    "camelot_distance",
    "flow_order",
    "m3u8_text",
    "select_mmr",
]

#: Duration assumed for a track whose length is unknown, seconds.
DEFAULT_DURATION_S = 210.0
#: Candidates kept (best scores) per playlist slot before diversity selection.
POOL_PER_SLOT = 10


@dataclass(frozen=True)
class Playlist:
    """An ordered playlist and what could not be honoured.

    Attributes
    ----------
    tracks : pandas.DataFrame
        One row per track in play order: ``position`` (1-based), ``track_id``, ``score``,
        ``reason`` and whichever of ``artist``, ``title``, ``path``, ``duration_s``, ``key``,
        ``mode``, ``tempo_bpm``, ``energy``, ``shelf``, ``propensity`` the input had.
    unmet : tuple of str
        Constraints that could not be met, each as a sentence (empty when all were met).
    flow : mapping of str to float
        ``harmonic_share`` (share of transitions between known keys that are Camelot-compatible),
        ``median_tempo_step_pct`` (octave-folded), ``energy_arc_r`` (correlation of energies with
        the arc); NaN where unknown.
    """

    tracks: pd.DataFrame
    unmet: tuple[str, ...] = ()
    flow: dict[str, float] = field(default_factory=dict)

    @property
    def minutes(self) -> float:
        """Total length, minutes (unknown durations counted as :data:`DEFAULT_DURATION_S`)."""
        if "duration_s" not in self.tracks:
            return len(self.tracks) * DEFAULT_DURATION_S / 60
        return float(self.tracks["duration_s"].fillna(DEFAULT_DURATION_S).sum() / 60)

    def to_dict(self) -> dict[str, Any]:
        rows = json.loads(self.tracks.to_json(orient="records", double_precision=6))
        return {
            "minutes": round(self.minutes, 2),
            "n_tracks": len(self.tracks),
            "unmet": list(self.unmet),
            "flow": {
                k: (None if not math.isfinite(v) else round(v, 4)) for k, v in self.flow.items()
            },
            "tracks": rows,
        }

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the playlist with reasons as JSON."""
        Path(path).write_text(
            json.dumps(self.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8"
        )

    def to_m3u8(self, path: str | os.PathLike[str]) -> None:
        """Write an extended M3U playlist (UTF-8): ``#EXTINF:<seconds>,<artist> - <title>`` then the
        track's ``path`` (its ``track_id`` where the path is unknown)."""
        Path(path).write_text(m3u8_text(self.tracks), encoding="utf-8")


def m3u8_text(tracks: pd.DataFrame) -> str:
    """The M3U8 text of a playlist frame (see :meth:`Playlist.to_m3u8`)."""
    lines = ["#EXTM3U"]
    for row in tracks.to_dict("records"):
        dur = row.get("duration_s")
        secs = int(round(dur)) if isinstance(dur, int | float) and math.isfinite(dur) else -1
        artist, title = _clean(row.get("artist")), _clean(row.get("title"))
        path = _clean(row.get("path"))
        if not title and path:
            # Untagged files: players show "Artist - Title", and the file name usually has both.
            from_name = [string.capwords(w) for w in file_artist_title(path)]
            artist, title = artist or from_name[0], from_name[1]
        label = (
            f"{artist} - {title}" if artist and title else title or artist or str(row["track_id"])
        )
        lines.append(f"#EXTINF:{secs},{label}")
        lines.append(_clean(row.get("path")) or str(row["track_id"]))
    return "\n".join(lines) + "\n"


def _clean(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return " ".join(str(v).split())  # a newline inside a title would break the file format


def build_playlist(
    candidates: pd.DataFrame,
    tracks: pd.DataFrame | None = None,
    *,
    n: int | None = 30,
    minutes: float | None = None,
    exclude: Iterable[str] | None = None,
    artist_cap: int = 1,
    cap_per: int = 30,
    diversity: float = 0.3,
    features: np.ndarray | None = None,
) -> Playlist:
    """A playlist of unheard tracks from scored candidates, diverse and in an order that flows.

    Parameters
    ----------
    candidates
        ``track_id`` and ``score`` (higher is better, e.g. ``Recommender.recommend``'s output),
        optionally ``reason`` and any tracks columns; extra columns are carried through.
    tracks
        Catalogue columns (``artist``/``artist_id``, ``title``, ``path``, ``duration_s``, ``key``,
        ``mode``, ``tempo_bpm``, ``energy``, tags, ``emb_*``) joined on ``track_id`` where the
        candidates lack them.
    n
        Tracks wanted; ignored when ``minutes`` is given.
    minutes
        Fill by duration instead: stop once the playlist is this long, minutes.
    exclude
        Track ids already heard (or otherwise unwanted).
    artist_cap, cap_per
        At most ``artist_cap`` tracks per artist in every ``cap_per`` tracks of the playlist.
    diversity
        MMR trade-off, 0 (by score only) to 1 (by novelty against the tracks already chosen only).
    features
        Content vectors, one row per candidate row (default: from the content columns).

    Returns
    -------
    Playlist
    """
    unmet: list[str] = []
    frame = _prepare(candidates, tracks, exclude, unmet)
    target_n, target_s = _targets(frame, n, minutes)
    keep = _pool_index(frame["score"].to_numpy(float), POOL_PER_SLOT * target_n + 50)
    pool = frame.iloc[keep].reset_index(drop=True)
    feats = (
        None
        if features is None
        else np.asarray(features, np.float32)[frame["_row"].to_numpy()[keep]]
    )
    if feats is None:
        feats = content_vectors(pool)
    picked, notes = select_mmr(
        pool["score"].to_numpy(float),
        features=feats,
        artists=artist_keys(pool),
        durations=pool["duration_s"].to_numpy(float) if "duration_s" in pool else None,
        n=target_n,
        seconds=target_s,
        artist_cap=artist_cap,
        cap_per=cap_per,
        diversity=diversity,
    )
    unmet += notes
    if feats is None and len(pool) > 1:
        unmet.append(
            "diversity: the tracks have no content columns, so only the artist cap spreads them"
        )
    chosen = pool.iloc[picked].drop(columns="_row").reset_index(drop=True)
    if minutes is None and n is not None and len(chosen) < n:
        unmet.append(f"length: only {len(chosen)} unheard candidate tracks for a playlist of {n}")
    if minutes is not None and len(chosen) and _seconds(chosen).sum() < minutes * 60 - 60:
        unmet.append(
            f"length: the unheard candidates last only {_seconds(chosen).sum() / 60:.0f} of the {minutes:g} minutes asked for"
        )
    order, flow, flow_notes = flow_order(
        _numeric(chosen, "key"),
        _numeric(chosen, "mode") if "mode" in chosen else None,
        _numeric(chosen, "tempo_bpm"),
        _numeric(chosen, "energy"),
    )
    unmet += flow_notes
    out = chosen.iloc[order].reset_index(drop=True)
    out.insert(0, "position", np.arange(1, len(out) + 1))
    return Playlist(out, tuple(unmet), flow)


# ----------------------------------------------------------------------------------------------
def _prepare(
    candidates: pd.DataFrame,
    tracks: pd.DataFrame | None,
    exclude: Iterable[str] | None,
    unmet: list[str],
) -> pd.DataFrame:
    if not isinstance(candidates, pd.DataFrame) or "track_id" not in candidates:
        raise InputError(None, "build_playlist needs a candidates frame with a track_id column")
    frame = candidates.copy()
    frame["_row"] = np.arange(len(frame))  # to find rows of ``features`` after filtering
    frame["track_id"] = frame["track_id"].astype(str)
    if "score" not in frame:
        # Candidates given best first without scores: keep their order.
        frame["score"] = -np.arange(len(frame), dtype=float)
        unmet.append("score: the candidates have no score column; their order was used")
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce").fillna(-np.inf)
    frame = frame.drop_duplicates("track_id")
    if tracks is not None and "track_id" in tracks:
        extra = [c for c in tracks.columns if c not in frame.columns]
        if extra:
            meta = tracks.drop_duplicates("track_id").assign(
                track_id=lambda t: t["track_id"].astype(str)
            )
            frame = frame.merge(meta[["track_id", *extra]], on="track_id", how="left")
    if exclude is not None:
        heard = pd.Index([str(x) for x in exclude])
        frame = frame[~frame["track_id"].isin(heard)]
    return frame.reset_index(drop=True)


def _targets(frame: pd.DataFrame, n: int | None, minutes: float | None) -> tuple[int, float | None]:
    if minutes is not None:
        d = (
            pd.to_numeric(frame["duration_s"], errors="coerce")
            if "duration_s" in frame
            else pd.Series(dtype=float)
        )
        typical = float(d.median()) if d.notna().any() else DEFAULT_DURATION_S
        return max(1, math.ceil(minutes * 60 / max(typical, 30.0)) + 5), minutes * 60.0
    return max(0, int(n if n is not None else 30)), None


def _pool_index(score: np.ndarray, k: int) -> np.ndarray:
    if len(score) <= k:
        return np.argsort(-score, kind="stable")
    top = np.argpartition(-score, k - 1)[:k]
    return top[np.argsort(-score[top], kind="stable")]


def _seconds(frame: pd.DataFrame) -> np.ndarray:
    if "duration_s" not in frame:
        return np.full(len(frame), DEFAULT_DURATION_S)
    d = pd.to_numeric(frame["duration_s"], errors="coerce").to_numpy(float)
    return np.where(np.isfinite(d) & (d > 0), d, DEFAULT_DURATION_S)


def content_vectors(frame: pd.DataFrame) -> np.ndarray | None:
    """Unit content vectors from whatever content columns ``frame`` has (None when it has none)."""
    with warnings.catch_warnings():  # all-NaN columns are expected here; they become zeros
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            space = ContentSpace.fit(frame)
        except InputError:
            return None
        return space.transform(frame)


def artist_keys(frame: pd.DataFrame) -> np.ndarray:
    """An integer per distinct artist (``artist_id``, else ``artist``); -1 where unknown."""
    col = "artist_id" if "artist_id" in frame else "artist" if "artist" in frame else None
    if col is None:
        return np.full(len(frame), -1, np.int64)
    codes, _ = pd.factorize(frame[col].where(frame[col].astype(str).str.len() > 0))
    return np.asarray(codes, np.int64)


def select_mmr(
    score: np.ndarray,
    *,
    features: np.ndarray | None,
    artists: np.ndarray,
    durations: np.ndarray | None = None,
    n: int,
    seconds: float | None = None,
    artist_cap: int = 1,
    cap_per: int = 30,
    diversity: float = 0.3,
) -> tuple[list[int], list[str]]:
    """Greedy maximal-marginal-relevance selection under an artist cap.

    Returns the chosen row indices in the order picked, and the constraints that had to be relaxed
    (when the cap leaves too few tracks it is raised one step at a time, and that is said).
    """
    m = len(score)
    if m == 0 or n == 0:
        return [], []
    finite = np.isfinite(score)
    lo, hi = (score[finite].min(), score[finite].max()) if finite.any() else (0.0, 1.0)
    rel = np.where(finite, (score - lo) / max(hi - lo, 1e-12), 0.0)
    dur = (
        np.full(m, DEFAULT_DURATION_S)
        if durations is None
        else np.where(np.isfinite(durations) & (durations > 0), durations, DEFAULT_DURATION_S)
    )
    cap = artist_cap * max(1, math.ceil(n / cap_per)) if artist_cap > 0 else m
    max_sim = np.zeros(m)
    used = np.zeros(m, bool)
    known = artists >= 0
    code = np.where(known, artists, 0)
    counts = np.zeros(int(code.max()) + 1, np.int64)
    chosen: list[int] = []
    total = 0.0
    notes: list[str] = []
    while len(chosen) < n and (seconds is None or total < seconds - 0.5 * DEFAULT_DURATION_S):
        blocked = used | (known & (counts[code] >= cap))
        if blocked.all():
            if used.all():
                break
            cap += 1
            if not notes:
                n_art = len(np.unique(artists[known]))
                notes.append(
                    f"artist cap: only {n_art} artist(s) among the candidates, so up to {cap} tracks per artist"
                )
            else:
                notes[0] = notes[0].rsplit(" up to ", 1)[0] + f" up to {cap} tracks per artist"
            continue
        val = (1 - diversity) * rel - diversity * max_sim
        val[blocked] = -np.inf
        j = int(np.argmax(val))
        chosen.append(j)
        used[j] = True
        total += dur[j]
        if known[j]:
            counts[code[j]] += 1
        if features is not None:
            max_sim = np.maximum(max_sim, features @ features[j])
    return chosen, notes


def _numeric(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
