"""Matching imported plays to catalogue tracks: by id, Spotify URI, ISRC, or artist + title.

Names are compared normalised (case, accents, punctuation, featured artists and remaster notes
dropped), so "Beyoncé feat. JAY-Z - Crazy In Love (Remastered)" finds "Beyonce - Crazy in Love".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class MatchReport:
    """How imported plays were matched to catalogue tracks.

    Attributes
    ----------
    matched : mapping of str to int
        Rows matched, by method (``track_id``, ``uri``, ``isrc``, ``artist_title``).
    unmatched : int
        Rows no method matched (dropped from the returned events).
    top_unmatched : list of (str, int)
        The most frequent unmatched ``"artist - title"`` (or id), with counts.
    """

    matched: dict[str, int]
    unmatched: int
    top_unmatched: list[tuple[str, int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched": dict(self.matched),
            "unmatched": self.unmatched,
            "top_unmatched": [list(x) for x in self.top_unmatched],
        }


def normalise_name(s: Any) -> str:
    """Lower-case, accent-free, punctuation-free text for matching artist and title names.

    Drops bracketed suffixes such as ``(Remastered 2011)`` and featured artists (``feat. X``,
    ``ft. X``, ``featuring X``, bracketed or not), which exporters write differently; ``- Live``-style
    tails are kept, since a live take is a different recording.
    """
    if not isinstance(s, str):
        return ""
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    s = re.sub(r"[\(\[][^\)\]]*(remaster|version|mono|stereo|edit)[^\)\]]*[\)\]]", " ", s.lower())
    s = re.sub(r"[\(\[]\s*(feat|ft|featuring)\b[^\)\]]*[\)\]]", " ", s)
    s = re.sub(r"\s(feat|ft|featuring)\b\.?\s.*$", " ", s)  # not at the start: a name
    s = " ".join(re.sub(r"[^a-z0-9]+", " ", s).split())
    return s[4:] if s.startswith("the ") else s


def _name_keys(tracks: pd.DataFrame) -> pd.Series:
    """Normalised ``"artist title"`` per catalogue track; from the file name (``Artist - Title.ogg``,
    ``artist_name-title_words.flac``) where the tags are missing."""
    empty = pd.Series("", index=tracks.index)
    artist = tracks["artist"].map(normalise_name) if "artist" in tracks else empty
    title = tracks["title"].map(normalise_name) if "title" in tracks else empty
    keys = (artist + " " + title).str.strip()
    if "path" in tracks:
        stem = tracks["path"].map(
            lambda p: normalise_name(Path(p).stem) if isinstance(p, str) else ""
        )
        keys = keys.where((artist != "") & (title != ""), stem)
    return keys


def match_tracks(events: pd.DataFrame, tracks: pd.DataFrame) -> tuple[pd.DataFrame, MatchReport]:
    """Map imported plays to catalogue ``track_id`` by id, Spotify URI, ISRC, or artist + title.

    Tried in that order per row: the event's ``track_id`` is already a catalogue id; it (or the
    event's ``uri``) equals a catalogue ``uri`` / ``spotify_uri`` column (``spotify:track:X`` and
    the bare ``X`` both match); the event's ``isrc`` equals the catalogue's ``isrc``; normalised
    ``artist_name`` + ``track_name`` equal the catalogue's ``artist`` + ``title`` (or, for tracks
    without those tags, the file name).

    Returns
    -------
    events : pandas.DataFrame
        Matched rows only, ``track_id`` replaced by the catalogue id.
    report : MatchReport
    """
    ids = tracks["track_id"].astype(str)
    known = set(ids)
    tid = events["track_id"].astype(str)
    out = tid.where(tid.isin(known)).astype(object)
    how = pd.Series("track_id", index=events.index, dtype=object).where(out.notna())

    def fill(keys: pd.Series, lookup: dict[str, str], method: str) -> None:
        todo = out.isna() & keys.notna()
        hit = keys[todo].map(lookup)
        hit = hit[hit.notna()]
        out.loc[hit.index] = hit
        how.loc[hit.index] = method

    for col in ("uri", "spotify_uri"):
        if col in tracks:
            lookup = {}
            for u, t in zip(tracks[col].astype(str), ids, strict=True):
                lookup[u] = t
                lookup[u.rsplit(":", 1)[-1]] = t
            fill(tid, lookup, "uri")
            if "uri" in events:
                fill(events["uri"].astype(str), lookup, "uri")
    if "isrc" in tracks and "isrc" in events:
        lookup = dict(zip(tracks["isrc"].astype(str).str.upper(), ids, strict=True))
        fill(events["isrc"].astype(str).str.upper(), lookup, "isrc")
    if {"artist_name", "track_name"} <= set(events.columns):
        ev_keys = (
            events["artist_name"].map(normalise_name)
            + " "
            + events["track_name"].map(normalise_name)
        )
        fill(ev_keys, dict(zip(_name_keys(tracks), ids, strict=True)), "artist_title")
    miss = out.isna()
    if {"artist_name", "track_name"} <= set(events.columns):
        label = events["artist_name"].astype(str) + " - " + events["track_name"].astype(str)
    else:
        label = tid
    top = Counter(label[miss]).most_common(10)
    matched = events.loc[~miss].copy()
    matched["track_id"] = out[~miss].astype(str)
    report = MatchReport(
        {k: int(v) for k, v in how[~miss].value_counts().items()}, int(miss.sum()), top
    )
    return matched.reset_index(drop=True), report
