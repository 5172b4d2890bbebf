"""The impressions log of discovery playlists: every slot served, its propensities and outcome.

Rows: ``user_id``, ``round``, ``week``, ``position``, ``track_id``, ``arm``, ``shelf``, ``score``,
``propensity``, ``p.<arm>`` (each arm's chance for that slot), ``f.<feature>`` (the re-ranker's
inputs), ``served_at`` (UTC) and, once feedback came, ``started`` and ``reward`` (1.0 full play,
0.0 otherwise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Columns of an empty log.
BASE_COLUMNS = (
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
)
_TEXT = ("user_id", "track_id", "arm", "shelf")
_INTEGER = ("round", "week", "position")


class ImpressionLog:
    """Appended to once per playlist, read as one frame; outcomes are written by
    :meth:`set_outcomes`. Appends are kept as parts and joined when the frame is read, so serving
    thousands of playlists does not copy the growing log each time."""

    def __init__(self, frame: pd.DataFrame | None = None) -> None:
        self._parts: list[pd.DataFrame] = [] if frame is None or frame.empty else [frame]
        self._joined: pd.DataFrame | None = None

    def append(self, rows: pd.DataFrame) -> None:
        self._parts.append(rows)
        self._joined = None

    @property
    def frame(self) -> pd.DataFrame:
        """The whole log (do not modify it: use :meth:`set_outcomes`)."""
        if self._joined is None:
            self._joined = (
                pd.concat(self._parts, ignore_index=True)
                if self._parts
                else pd.DataFrame(columns=list(BASE_COLUMNS))
            )
        return self._joined

    def set_outcomes(self, rows: np.ndarray, started: np.ndarray, reward: np.ndarray) -> None:
        """Record ``started`` and ``reward`` for the log's rows at positions ``rows``."""
        frame = self.frame
        frame.loc[rows, "started"] = started
        frame.loc[rows, "reward"] = reward
        self._parts = [frame]
        self._joined = frame

    def to_columns(self) -> dict[str, list[Any]]:
        """JSON-able columns (``None`` for missing values, ISO times)."""
        log = self.frame
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
        return columns

    @classmethod
    def from_columns(cls, cols: dict[str, list[Any]], arms: tuple[str, ...]) -> ImpressionLog:
        """The log :meth:`to_columns` wrote; ValueError when the columns do not fit together."""
        if not cols:
            return cls()
        if len({len(v) for v in cols.values()}) != 1:
            raise ValueError("log columns of different lengths")
        log = pd.DataFrame(cols)
        for c in log.columns:
            if c in _TEXT:
                log[c] = log[c].astype(str)
            elif c == "served_at":
                log[c] = pd.to_datetime(log[c], utc=True)
            elif c == "started":
                log[c] = log[c].astype("boolean")
            elif c in _INTEGER:
                log[c] = log[c].astype(np.int64)
            else:
                log[c] = log[c].astype(float)
        if len(log) and not set(log["arm"]) <= set(arms):
            raise ValueError(f"log has unknown shelves {sorted(set(log['arm']) - set(arms))}")
        return cls(log)


def slot_rows(
    out: pd.DataFrame,
    *,
    user: str,
    round_: int,
    week: int,
    probs: np.ndarray,
    feats: np.ndarray | None,
    served_at: pd.Timestamp | None,
    arms: tuple[str, ...],
    features: tuple[str, ...],
) -> pd.DataFrame:
    """Log rows for one served playlist ``out`` (``position``, ``track_id``, ``arm``, ``shelf``,
    ``score``, ``propensity``), with each slot's arm ``probs`` and re-ranker ``feats``."""
    n = len(out)
    # One frame from a dict of columns: inserting ~25 columns one by one cost ~10 ms a playlist,
    # half of the whole playlist's time on a 20,000-track catalogue.
    cols: dict[str, Any] = {
        "user_id": np.full(n, user, dtype=object),
        "round": np.full(n, round_, np.int64),
        "week": np.full(n, week, np.int64),
    }
    for c in ("position", "track_id", "arm", "shelf", "score", "propensity"):
        cols[c] = out[c].to_numpy()
    for i, arm in enumerate(arms):
        cols[f"p.{arm}"] = probs[:, i] if len(probs) else np.zeros(n)
    for i, name in enumerate(features):
        cols[f"f.{name}"] = np.full(n, np.nan) if feats is None else feats[:, i]
    cols["served_at"] = pd.DatetimeIndex(
        [pd.NaT if served_at is None else served_at] * n, dtype="datetime64[ns, UTC]"
    )
    cols["started"] = pd.array([pd.NA] * n, dtype="boolean")
    cols["reward"] = np.full(n, np.nan)
    return pd.DataFrame(cols, index=out.index)


def last_served(log: pd.DataFrame, user: str) -> pd.Timestamp | None:
    """When ``user``'s latest logged playlist was served (``None``: never, or not given)."""
    t = log.loc[log["user_id"] == str(user), "served_at"] if len(log) else log["served_at"]
    t = t.dropna()
    return None if t.empty else pd.Timestamp(t.max())


def new_feedback(log: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Each listener's ``events`` later than their latest logged playlist's ``served_at``."""
    if log.empty or "timestamp" not in events or events.empty:
        return events.iloc[:0]
    since = log.dropna(subset=["served_at"]).groupby("user_id")["served_at"].max()
    if since.empty:
        return events.iloc[:0]
    ts = pd.to_datetime(events["timestamp"], utc=True, errors="coerce")
    after = events["user_id"].astype(str).map(since)
    keep = (ts > pd.to_datetime(after, utc=True)).fillna(False).to_numpy(bool)
    return events.loc[keep]


def as_utc(t: pd.Timestamp | str | None) -> pd.Timestamp | None:
    """``t`` as a UTC timestamp (naive times are taken as UTC)."""
    if t is None:
        return None
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
