"""The per-track arrays a recommender keeps from a tracks frame (any subset of its columns)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from audiotaste.errors import InputError
from audiotaste.recommend.events import (
    MATCH_COLUMNS,
    EventReport,
    MatchReport,
    clean_events,
    match_tracks,
)


def track_arrays(tracks: pd.DataFrame) -> dict[str, np.ndarray]:
    """Ids, names, durations, artist codes and tag probabilities of ``tracks`` (deduplicated).

    Returns
    -------
    dict
        ``track_ids_``, ``duration_s_`` (NaN unknown), ``artist_``, ``title_``, ``path_``
        (``""`` unknown), ``artist_code_`` (by ``artist_id``, else ``artist``; -1 where neither is
        known), ``tag_names_``, ``tags_`` (``[n_tracks, n_tags]``, 0 where missing) and
        ``tag_mean_``.
    """
    if "track_id" not in tracks:
        raise InputError(None, "the tracks frame has no track_id column")
    artist_key = tracks["artist_id"] if "artist_id" in tracks else tracks.get("artist")
    if artist_key is None:
        codes = np.full(len(tracks), -1, np.int64)
    else:
        # A missing artist is an unknown artist, not one artist called "nan" with many tracks.
        known = artist_key.notna() & (artist_key.astype(str).str.strip() != "")
        codes = np.where(known, pd.factorize(artist_key.where(known).astype(str))[0], -1)
    tags = [c for c in tracks.columns if str(c).startswith(("genre.", "mood."))]
    if not tags:
        # a frame tagged only by another taxonomy (musicnn's tag.*) still gets worded reasons;
        # with ours present its 50 extra columns would add 200 MB at 1 M tracks and no new words
        tags = [c for c in tracks.columns if str(c).startswith("tag.")]
    probs = tracks[tags].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy(np.float32)
    return {
        "track_ids_": tracks["track_id"].astype(str).to_numpy(dtype=str),
        "duration_s_": _column(tracks, "duration_s", np.nan),
        "artist_": _text(tracks, "artist"),
        "title_": _text(tracks, "title"),
        "path_": _text(tracks, "path"),
        "artist_code_": codes.astype(np.int64),
        "tag_names_": np.array(tags, dtype=str),
        "tags_": probs,
        # The catalogue's mean tag is in every reason; over a million tracks it is worth keeping.
        "tag_mean_": probs.mean(0) if len(probs) else np.zeros(len(tags), np.float32),
    }


def lookup(index: pd.Index, keys: Sequence[str], unknown: str) -> np.ndarray:
    """Positions of ``keys`` in ``index``; InputError ``unknown.format(first three unknown)``."""
    if len(keys) == 1 and index.is_unique:
        # get_loc is a hash lookup; get_indexer builds an Index of the query first (~1 ms).
        try:
            loc = index.get_loc(str(keys[0]))
        except KeyError:
            loc = -1
        if isinstance(loc, int) and loc >= 0:
            return np.array([loc], np.int64)
    idx = index.get_indexer([str(x) for x in keys])
    if (idx < 0).any():
        bad = [str(x) for x, i in zip(keys, idx, strict=True) if i < 0][:3]
        raise InputError(None, unknown.format(bad))
    return idx


def _column(tracks: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in tracks:
        return np.full(len(tracks), default)
    return pd.to_numeric(tracks[name], errors="coerce").to_numpy(np.float64)


def _text(tracks: pd.DataFrame, name: str) -> np.ndarray:
    if name not in tracks:
        return np.full(len(tracks), "", dtype=str)
    return tracks[name].fillna("").astype(str).to_numpy(dtype=str)


def catalogue_events(
    events: pd.DataFrame, tracks: pd.DataFrame, positions: pd.Index
) -> tuple[pd.DataFrame, np.ndarray, EventReport, MatchReport | None]:
    """Cleaned events of catalogue tracks, their track positions, and what was dropped.

    Imported plays that name their track by Spotify URI, ISRC or artist + title (columns
    ``uri``, ``isrc``, ``artist_name`` / ``track_name``) are matched to ``tracks`` first
    (:func:`~audiotaste.recommend.events.match_tracks`); events of tracks not in ``positions``
    (the catalogue's ids) are dropped as ``unknown_track``.
    """
    ev, report = clean_events(events, sort=False)
    matched = None
    if set(MATCH_COLUMNS) & set(ev.columns):
        ev, matched = match_tracks(ev, tracks)
    # Look up each distinct id once: 4x cheaper than get_indexer on 10M rows of ids.
    codes, uniques = pd.factorize(ev["track_id"])
    found = positions.get_indexer(uniques)
    items = np.where(codes >= 0, found[np.maximum(codes, 0)], -1) if len(found) else codes
    dropped = dict(report.dropped)
    if (items < 0).any():
        dropped["unknown_track"] = int((items < 0).sum())
        ev, items = ev[items >= 0], items[items >= 0]
    if matched is not None and matched.unmatched:
        dropped["unmatched"] = matched.unmatched
    return ev, items, EventReport("<frame>", "frame", report.rows_read, len(ev), dropped), matched


def pad_rows(m: Any, n: int) -> Any:
    """``m`` (dense or CSR) with ``n`` rows of zeros appended."""
    if sp.issparse(m):
        return sp.vstack([m, sp.csr_matrix((n, m.shape[1]), dtype=m.dtype)]).tocsr()
    return np.vstack([m, np.zeros((n, m.shape[1]), m.dtype)])
