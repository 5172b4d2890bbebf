"""Listening events: read every supported export into one schema, clean it, match it to a catalogue.

The schema (see ``shared/API.md``): ``user_id`` (str), ``track_id`` (str), ``timestamp`` (UTC
datetime), ``ms_played`` (int); optional ``skipped`` (bool), ``reason_end``, ``context``. Imported
plays also keep ``artist_name``, ``track_name`` and ``isrc`` so they can be matched to catalogue
tracks. Every row that is dropped is counted by reason in an :class:`EventReport`, which
:func:`read_events` attaches to the frame as ``events.attrs["report"]`` (a plain dict).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audiotaste.errors import InputError
from audiotaste.recommend.matching import MatchReport, match_tracks, normalise_name

REQUIRED = ("user_id", "track_id", "timestamp", "ms_played")
OPTIONAL = ("skipped", "reason_end", "context", "artist_name", "track_name", "isrc")
#: Event columns that name a track other than by our ``track_id``: matched by :func:`match_tracks`.
MATCH_COLUMNS = ("uri", "isrc", "artist_name", "track_name")
#: Other names of our columns in tables people export (Last.fm, scrobblers, spreadsheets).
ALIASES = {
    "user_id": ("user", "username", "user_name", "listener"),
    "timestamp": (
        "ts",
        "time",
        "date",
        "datetime",
        "played_at",
        "listened_at",
        "endTime",
        "utc_time",
    ),
    "ms_played": ("msPlayed", "duration_ms", "played_ms"),
    "artist_name": ("artist", "artistName", "artist name", "master_metadata_album_artist_name"),
    "track_name": (
        "title",
        "track",
        "song",
        "trackName",
        "track name",
        "master_metadata_track_name",
    ),
    "uri": ("spotify_uri", "spotify_track_uri"),
}
#: ListenBrainz only records a listen after half the track or 4 minutes; used when it gives no length.
LISTENBRAINZ_DEFAULT_MS = 240_000
#: Clock skew tolerated before a timestamp counts as "in the future".
FUTURE_TOLERANCE = pd.Timedelta(days=1)
#: One play longer than a day is a corrupt value, not a listen.
MAX_MS_PLAYED = 86_400_000


@dataclass(frozen=True)
class EventReport:
    """What happened to every input row.

    Attributes
    ----------
    source : str
        File (or ``"<frame>"``) the events came from.
    format : str
        Detected format: ``spotify_extended``, ``spotify_account``, ``listenbrainz``, ``csv``,
        ``parquet``, ``jsonl`` or ``frame``.
    rows_read : int
        Rows (or JSON records / lines) found in the input.
    rows_kept : int
        Rows in the cleaned events.
    dropped : mapping of str to int
        Rows dropped, by reason (``malformed_json``, ``missing_id``, ``bad_timestamp``,
        ``future_timestamp``, ``bad_ms_played``, ``negative_ms_played``,
        ``implausible_ms_played``, ``duplicate``,
        ``unknown_track``, ``not_a_track``...).
    """

    source: str
    format: str
    rows_read: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "dropped": dict(self.dropped),
        }


def read_events(
    path: str | os.PathLike[str],
    *,
    user_id: str | None = None,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Read any supported listening-history export into the events schema.

    Parameters
    ----------
    path
        Spotify extended streaming history (``Streaming_History_Audio_*.json``, ``endsong_*.json``),
        Spotify account data (``StreamingHistory*.json``), a ListenBrainz export (JSON array or JSON
        lines), or CSV / Parquet / JSON lines already in the events schema.
    user_id
        User id for exports that do not name the listener (Spotify account data); defaults to the
        export's ``username`` where it has one, else the file's stem.
    now
        Reference time for "timestamps in the future" (default: the current UTC time).

    Returns
    -------
    pandas.DataFrame
        Cleaned events, oldest first; ``attrs["report"]`` holds :class:`EventReport` as a dict.

    Raises
    ------
    InputError
        Missing or unreadable file, unknown format, or a table without the required columns.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such events file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".parquet":
            raw, fmt, bad = pd.read_parquet(p), "parquet", 0
        elif suffix in (".csv", ".tsv"):
            raw, fmt, bad = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ","), "csv", 0
        else:
            raw, fmt, bad = _read_json_export(p, user_id or p.stem)
    except (OSError, ValueError, AttributeError, TypeError) as exc:  # a JSON shape we do not know
        raise InputError(p, f"could not read events ({exc.__class__.__name__}: {exc})") from None
    if fmt in ("csv", "parquet"):
        raw = standard_columns(raw, default_user=user_id or p.stem)
    if user_id is not None:
        raw["user_id"] = user_id
    events, report = clean_events(raw, now=now, source=str(p), fmt=fmt)
    if bad:
        dropped = {"malformed_json": bad, **report.dropped}
        report = EventReport(str(p), fmt, report.rows_read + bad, report.rows_kept, dropped)
    events.attrs["report"] = report.to_dict()
    return events


def standard_columns(table: pd.DataFrame, *, default_user: str) -> pd.DataFrame:
    """Rename a table's columns to the events schema where they go by another common name.

    A table with artist and title but no ``track_id`` (what scrobblers and spreadsheets export) is
    kept: ``artist - title`` stands in as the id until :func:`match_tracks`. Without a listener
    column every row is ``default_user``'s; without ``ms_played`` a row counts as a listen of
    :data:`LISTENBRAINZ_DEFAULT_MS` (a scrobble is recorded only after half the track or 4 minutes).
    """
    df = table.copy()
    lower = {str(c).strip().lower(): c for c in df.columns}
    for name, others in ALIASES.items():
        if name in df.columns:
            continue
        found = next((lower[o.lower()] for o in others if o.lower() in lower), None)
        if found is not None and found not in REQUIRED:
            df = df.rename(columns={found: name})
    if "user_id" not in df.columns:
        df["user_id"] = default_user
    if "ms_played" not in df.columns and "track_id" not in df.columns:
        df["ms_played"] = LISTENBRAINZ_DEFAULT_MS
    return df


def _read_json_export(p: Path, default_user: str) -> tuple[pd.DataFrame, str, int]:
    """Parse a JSON array or JSON lines file and convert it by the keys of its records."""
    text = p.read_text(encoding="utf-8-sig")
    records: list[Any]
    bad = 0
    try:
        doc = json.loads(text)
        if isinstance(
            doc, dict
        ):  # one record, or a ListenBrainz API page {"payload": {"listens": []}}
            doc = doc.get("payload", doc).get("listens", [doc])
        records = doc if isinstance(doc, list) else [doc]
    except json.JSONDecodeError:
        records = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                bad += 1
        if not records and bad:
            raise InputError(p, "not JSON and not JSON lines") from None
    good = [r for r in records if isinstance(r, dict)]
    bad += len(records) - len(good)
    first = good[0] if good else {}
    if "ms_played" in first and "ts" in first:
        return _from_spotify_extended(good, default_user), "spotify_extended", bad
    if "msPlayed" in first and "endTime" in first:
        return _from_spotify_account(good, default_user), "spotify_account", bad
    if "listened_at" in first or "track_metadata" in first:
        return _from_listenbrainz(good, default_user), "listenbrainz", bad
    if all(c in first for c in REQUIRED) or not good:
        return pd.DataFrame(good, columns=None if good else list(REQUIRED)), "jsonl", bad
    raise InputError(p, f"unrecognised JSON events format (keys: {sorted(first)[:8]})")


def _from_spotify_extended(rows: list[dict[str, Any]], user: str) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    uri = df.get("spotify_track_uri", pd.Series(None, index=df.index, dtype=object))
    return pd.DataFrame(
        {
            "user_id": df["username"].fillna(user) if "username" in df else user,
            # Podcast episodes have no track URI; they are dropped as missing ids, and counted.
            "track_id": uri,
            "timestamp": df["ts"],
            "ms_played": df["ms_played"],
            "skipped": df.get("skipped"),
            "reason_end": df.get("reason_end"),
            "context": df.get("reason_start"),
            "artist_name": df.get("master_metadata_album_artist_name"),
            "track_name": df.get("master_metadata_track_name"),
        }
    )


def _name_ids(artist: pd.Series, title: pd.Series) -> list[str | None]:
    return [
        f"{a} - {t}" if isinstance(a, str) and isinstance(t, str) and a and t else None
        for a, t in zip(artist, title, strict=True)
    ]


def _from_spotify_account(rows: list[dict[str, Any]], user: str) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    artist = df.get("artistName", pd.Series(None, index=df.index, dtype=object))
    title = df.get("trackName", pd.Series(None, index=df.index, dtype=object))
    # This export has no track ids: the normalised "artist - title" stands in until matching.
    key = _name_ids(artist, title)
    return pd.DataFrame(
        {
            "user_id": user,
            "track_id": key,
            "timestamp": df["endTime"],
            "ms_played": df["msPlayed"],
            "artist_name": artist,
            "track_name": title,
        }
    )


def _from_listenbrainz(rows: list[dict[str, Any]], user: str) -> pd.DataFrame:
    out = []
    for r in rows:
        meta = r.get("track_metadata") or {}
        info = meta.get("additional_info") or {}
        mbid = (meta.get("mbid_mapping") or {}).get("recording_mbid") or info.get("recording_mbid")
        spotify = info.get("spotify_id")
        artist, title = meta.get("artist_name"), meta.get("track_name")
        track = mbid or spotify or (f"{artist} - {title}" if artist and title else None)
        ts = r.get("listened_at")
        out.append(
            {
                "user_id": r.get("user_name") or user,
                "track_id": track,
                "timestamp": pd.to_datetime(ts, unit="s", utc=True, errors="coerce")
                if isinstance(ts, int | float) and not isinstance(ts, bool)
                else ts,
                "ms_played": info.get("duration_ms") or LISTENBRAINZ_DEFAULT_MS,
                "skipped": False,
                "artist_name": artist,
                "track_name": title,
                "isrc": info.get("isrc"),
                "uri": spotify,
            }
        )
    return pd.DataFrame(out)


def clean_events(
    events: pd.DataFrame,
    *,
    now: pd.Timestamp | None = None,
    source: str = "<frame>",
    fmt: str = "frame",
    sort: bool = True,
) -> tuple[pd.DataFrame, EventReport]:
    """Coerce a frame to the events schema, dropping (and counting) every row that cannot be used.

    Parameters
    ----------
    events
        A frame with at least ``user_id``, ``track_id``, ``timestamp``, ``ms_played``.
    now
        Timestamps later than ``now`` plus one day are dropped as ``future_timestamp``.
    sort
        Sort by timestamp. Callers that aggregate the events anyway skip it: reordering ten
        million rows of string ids costs more than the rest of the cleaning.

    Returns
    -------
    events : pandas.DataFrame
        Typed, de-duplicated, sorted by timestamp (when ``sort``), fresh index.
    report : EventReport
    """
    if "track_id" not in events.columns and {"artist_name", "track_name"} <= set(events.columns):
        # Named plays: the normalised "artist - title" stands in until match_tracks.
        events = events.assign(track_id=_name_ids(events["artist_name"], events["track_name"]))
    missing = [c for c in REQUIRED if c not in events.columns]
    if missing:
        raise InputError(
            source, f"events lack column(s) {missing}; found {list(events.columns)[:12]}"
        )
    n = len(events)
    dropped: Counter[str] = Counter()
    df = events.copy()

    def drop(mask: pd.Series, reason: str) -> None:
        nonlocal df
        k = int(mask.sum())
        if k:
            dropped[reason] += k
            df = df.loc[~mask]

    for col in ("user_id", "track_id"):
        drop(~_valid_ids(df[col]), "missing_id")
        values = df[col]
        if pd.api.types.is_float_dtype(values):  # integer ids read by CSV next to blanks
            values = values.astype("Int64")
        df[col] = values.astype(str).str.strip()
    ts = df["timestamp"]
    if pd.api.types.is_numeric_dtype(ts):
        ts = pd.to_datetime(ts, unit="s", utc=True, errors="coerce")
    else:
        ts = pd.to_datetime(ts, utc=True, errors="coerce", format="mixed")
    df["timestamp"] = ts
    drop(df["timestamp"].isna(), "bad_timestamp")
    limit = (pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)) + FUTURE_TOLERANCE
    if limit.tzinfo is None:
        limit = limit.tz_localize("UTC")
    drop(df["timestamp"] > limit, "future_timestamp")
    ms = pd.to_numeric(df["ms_played"], errors="coerce")
    df["ms_played"] = ms
    drop(ms.isna() | ~np.isfinite(ms.astype(float)), "bad_ms_played")
    drop(df["ms_played"] < 0, "negative_ms_played")
    drop(df["ms_played"] > MAX_MS_PLAYED, "implausible_ms_played")
    df["ms_played"] = df["ms_played"].astype(np.int64)
    if "skipped" in df:
        df["skipped"] = df["skipped"].map(_as_bool).astype("boolean")
    drop(_duplicated(df), "duplicate")
    keep = [c for c in (*REQUIRED, *OPTIONAL, "uri") if c in df.columns]
    df = df[keep]
    if sort and not df["timestamp"].is_monotonic_increasing:
        df = df.sort_values("timestamp", kind="stable")
    df = df.reset_index(drop=True)
    return df, EventReport(source, fmt, n, len(df), dict(dropped))


def _duplicated(df: pd.DataFrame) -> pd.Series:
    """True for each row repeating an earlier row's ``user_id``, ``track_id`` and ``timestamp``.

    Same answer as ``DataFrame.duplicated`` on those columns, ~3x cheaper on millions of rows:
    pandas hashes the timestamps slowly, so rows are first grouped by a 64-bit hash of the three
    (ids as factorize codes), and only rows whose hash repeats are compared exactly.
    """
    cols = ["user_id", "track_id", "timestamp"]
    if len(df) < 200_000:
        return df.duplicated(cols)
    h = pd.DatetimeIndex(df["timestamp"]).asi8.astype(np.uint64)
    for col in ("user_id", "track_id"):
        codes = pd.factorize(df[col])[0].astype(np.uint64)
        h = (h ^ codes) * np.uint64(0x9E3779B97F4A7C15)  # wraps modulo 2**64, as meant
        h ^= h >> np.uint64(29)
    # np.sort of integers is ~10x faster than argsort: find the repeated values, then their rows.
    s = np.sort(h)
    repeated = np.unique(s[1:][s[1:] == s[:-1]])
    maybe = np.zeros(len(df), bool)
    if len(repeated):
        at = np.minimum(np.searchsorted(repeated, h), len(repeated) - 1)
        maybe = repeated[at] == h
    out = np.zeros(len(df), bool)
    if maybe.any():
        out[maybe] = df.loc[maybe, cols].duplicated().to_numpy()
    return pd.Series(out, index=df.index)


def _valid_ids(col: pd.Series) -> pd.Series:
    """True where a value can name a user or track: a non-blank string or an integer."""
    if pd.api.types.is_float_dtype(col):
        ok = col.notna() & (col == col.round()) & (col.abs() < 2.0**53)
    elif col.dtype == object:
        ok = pd.Series(
            [
                (isinstance(v, str) and v.strip() != "")
                or (isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_))
                for v in col
            ],
            index=col.index,
            dtype=bool,
        )
    elif pd.api.types.is_string_dtype(col):
        ok = col.notna() & (col.str.strip() != "")
    else:
        ok = col.notna() & ~pd.api.types.is_bool_dtype(col)
    return ok.fillna(False).astype(bool)


def _as_bool(v: Any) -> bool | None:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        return True if s in ("true", "1", "yes") else False if s in ("false", "0", "no") else None
    if isinstance(v, int | float) and not pd.isna(v):
        return bool(v)
    return None


__all__ = [
    "ALIASES",
    "MATCH_COLUMNS",
    "EventReport",
    "MatchReport",
    "clean_events",
    "match_tracks",
    "normalise_name",
    "read_events",
    "standard_columns",
]
