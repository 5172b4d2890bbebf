"""Catalogues as files other tools read: a Parquet dataset sink, and ``export`` between formats.

A Parquet catalogue (``audiotaste tag --out DIR``) is a folder of append-only part files, one row per
record (``ok``, ``known`` or ``failed``); its current state is the latest record of each path. Part
files are written under a temporary name and renamed, so a killed run leaves whole parts only.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audiotaste._io import atomic_path
from audiotaste.analysis import DESCRIPTOR_FIELDS
from audiotaste.catalogue.store import (
    FILE_TAGS,
    Catalogue,
    _json_dict,
    path_key,
    path_str,
    tag_models_of,
    tracks_frame,
)
from audiotaste.errors import InputError

_PART_ROWS = 256  # records per part file: small enough to lose little on a kill, big enough to read fast

#: Descriptors stored as text (``notes``: why a value is missing; part files written before it lack it).
_TEXT_FIELDS = ("key_name", "notes")

_SCHEMA = pa.schema([
    ("path_key", pa.binary()), ("path", pa.string()), ("size", pa.int64()),
    ("mtime_ns", pa.int64()), ("status", pa.string()), ("track_id", pa.string()),
    ("kind", pa.string()), ("message", pa.string()), ("written_at", pa.float64()),
    *[(name, pa.string()) for name in FILE_TAGS],
    *[(name, pa.string() if name in _TEXT_FIELDS else pa.float64()) for name in DESCRIPTOR_FIELDS],
    ("model", pa.string()), ("analysis_s", pa.float64()), ("tags", pa.string()),
    ("embedding", pa.binary()), ("beat_times", pa.string()), ("timings", pa.string()),
    # added with SQLite schema v3; part files written before lack it (read as "unknown": ``model``)
    ("tag_models", pa.string()),
])


def display_path(path: str) -> str:
    """A path as printable UTF-8 (undecodable bytes as ``\\xNN``), for text formats."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class ParquetCatalogue:
    """A catalogue kept as a Parquet dataset folder (``tracks-*.parquet`` part files)."""

    #: Part files are append-only records of whole analyses: a track that lacks a requested
    #: taxonomy is analysed again (``Catalogue`` merges the missing taxonomy in place instead).
    merges_tags = False

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = os.fspath(folder)
        self._buffer: list[dict[str, Any]] = []
        self._state: pd.DataFrame | None = None

    @classmethod
    def open(cls, folder: str | os.PathLike[str], *, create: bool = True) -> ParquetCatalogue:
        """Open the dataset folder (created when missing, if ``create``)."""
        p = Path(folder)
        if p.exists() and not p.is_dir():
            raise InputError(str(p), "is not a folder (a Parquet catalogue is a folder)")
        if not p.exists():
            if not create:
                raise InputError(str(p), "no such catalogue")
            p.mkdir(parents=True)
        return cls(p)

    # --- Sink ------------------------------------------------------------------------------------
    def _current(self) -> pd.DataFrame:
        """Latest record of every path."""
        if self._state is None:
            parts = sorted(Path(self.path).glob("tracks-*.parquet"))
            if not parts:
                self._state = pd.DataFrame({name: pd.Series(dtype=object) for name in _SCHEMA.names})
            else:
                frame = pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)
                frame = frame.sort_values("written_at", kind="stable")
                self._state = frame.drop_duplicates("path_key", keep="last")
        return self._state

    def file_index(self) -> dict[bytes, tuple[int, int, str, str | None]]:
        cur = self._current()
        good = cur[cur["status"] != "failed"]
        models = self._ok_rows().set_index("track_id")["model"].to_dict()
        return {bytes(k): (int(s), int(m), t, models.get(t))
                for k, s, m, t in zip(good["path_key"], good["size"], good["mtime_ns"],
                                      good["track_id"], strict=True)}

    def tag_models_index(self) -> dict[str, dict[str, str]]:
        """``{track_id: {taxonomy: "name@version"}}`` of every track."""
        ok = self._ok_rows()
        tms = ok["tag_models"] if "tag_models" in ok.columns else [None] * len(ok)
        return {t: tag_models_of(_json_dict(tags), _json_dict(tm), m if isinstance(m, str) else None)
                for t, tags, tm, m in zip(ok["track_id"], ok["tags"], tms, ok["model"], strict=True)}

    def failure_index(self) -> dict[bytes, tuple[int | None, int | None]]:
        cur = self._current()
        bad = cur[cur["status"] == "failed"]
        return {bytes(k): (None if pd.isna(s) else int(s), None if pd.isna(m) else int(m))
                for k, s, m in zip(bad["path_key"], bad["size"], bad["mtime_ns"], strict=True)}

    def write(self, records: Iterable[Mapping[str, Any]]) -> None:
        now = time.time()
        for rec in records:
            if rec["status"] == "tags":  # plan() sends whole analyses here (merges_tags is False)
                raise ValueError("a Parquet catalogue stores whole analyses, not added tags")
            if rec["status"] != "unchanged":
                self._buffer.append(_row(rec, now))
        if len(self._buffer) >= _PART_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write buffered records as one part file (atomically)."""
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=_SCHEMA)
        name = f"tracks-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        with atomic_path(Path(self.path) / name) as tmp:
            pq.write_table(table, tmp)
        self._buffer = []
        self._state = None

    def close(self) -> None:
        self.flush()

    # --- reading ---------------------------------------------------------------------------------
    def _ok_rows(self) -> pd.DataFrame:
        cur = self._current()
        ids = set(cur.loc[cur["status"] != "failed", "track_id"])
        parts = sorted(Path(self.path).glob("tracks-*.parquet"))
        if not parts:
            return cur.iloc[:0]
        every = pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)
        ok = every[(every["status"] == "ok") & every["track_id"].isin(ids)]
        return ok.sort_values("written_at", kind="stable").drop_duplicates("track_id", keep="last")

    def records(self) -> list[dict[str, Any]]:
        """Current state as worker-style records (for converting to SQLite)."""
        ok = self._ok_rows().set_index("track_id")
        out = []
        for row in self._current().itertuples(index=False):
            rec: dict[str, Any] = {"path": path_str(bytes(row.path_key)), "size": _int(row.size),
                                   "mtime_ns": _int(row.mtime_ns), "track_id": row.track_id,
                                   "status": row.status, "kind": row.kind, "message": row.message}
            if row.status != "failed":
                if row.track_id not in ok.index:
                    continue
                src = ok.loc[row.track_id]
                rec["status"] = "ok"
                rec["seconds"] = src["analysis_s"]
                rec["file_tags"] = {n: src[n] for n in FILE_TAGS if isinstance(src[n], str)}
                emb = (np.frombuffer(src["embedding"], "<f4") if src["embedding"]
                       else np.zeros(0, "<f4"))
                tags = _json_dict(src["tags"])
                model = src["model"] if isinstance(src["model"], str) else None
                rec["fields"] = {**{n: _plain(src.get(n)) for n in DESCRIPTOR_FIELDS},
                                 "tags": tags,
                                 "tag_models": tag_models_of(tags, _json_dict(src.get("tag_models")),
                                                             model),
                                 "embedding": [float(x) for x in emb], "model": src["model"],
                                 "beat_times": json.loads(src["beat_times"] or "[]"),
                                 "timings": json.loads(src["timings"] or "{}")}
            out.append(rec)
        return out

    def to_pandas(self) -> pd.DataFrame:
        """Same columns as ``Catalogue.to_pandas``."""
        cur = self._current()
        ok = self._ok_rows()
        where = cur[cur["status"] != "failed"].drop_duplicates("track_id", keep="last")
        where = where.set_index("track_id")
        rows = []
        for r in ok.sort_values("track_id").itertuples(index=False):
            at = where.loc[r.track_id]
            rows.append((r.track_id, bytes(at["path_key"]), int(at["size"]), int(at["mtime_ns"]),
                         *[getattr(r, n) for n in FILE_TAGS],
                         *[_plain(getattr(r, n, None)) for n in DESCRIPTOR_FIELDS], r.model, r.written_at,
                         r.analysis_s, getattr(r, "tag_models", None), r.tags, r.embedding))
        return tracks_frame(rows)

    def failures(self) -> pd.DataFrame:
        """Same columns as ``Catalogue.failures``."""
        cur = self._current()
        bad = cur[cur["status"] == "failed"]
        parts = sorted(Path(self.path).glob("tracks-*.parquet"))
        every = (pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)
                 if parts else cur)
        tries = every[every["status"] == "failed"].groupby("path_key")["written_at"]
        first, count = tries.min(), tries.size()
        frame = pd.DataFrame({
            "path": [path_str(bytes(k)) for k in bad["path_key"]],
            "kind": bad["kind"].to_numpy(), "message": bad["message"].to_numpy(),
            "attempts": [int(count[k]) for k in bad["path_key"]],
            "last_seen": pd.to_datetime(bad["written_at"].to_numpy(dtype=float), unit="s", utc=True),
            "first_seen": pd.to_datetime([first[k] for k in bad["path_key"]], unit="s", utc=True),
        })
        return frame.sort_values("path", ignore_index=True)


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _row(rec: Mapping[str, Any], now: float) -> dict[str, Any]:
    f = rec.get("fields") or {}
    emb = np.asarray(f.get("embedding") or [], dtype="<f4")
    timings = {**(f.get("timings") or {}), **(rec.get("timings") or {})}
    row = {"path_key": path_key(rec["path"]), "path": display_path(rec["path"]),
           "size": rec.get("size"), "mtime_ns": rec.get("mtime_ns"), "status": rec["status"],
           "track_id": rec.get("track_id"), "kind": rec.get("kind"), "message": rec.get("message"),
           "written_at": now, "model": f.get("model"), "analysis_s": rec.get("seconds"),
           "tags": json.dumps(f.get("tags")) if f else None,
           "embedding": emb.tobytes() if emb.size else None,
           "beat_times": json.dumps(f.get("beat_times")) if f else None,
           "timings": json.dumps(timings) if f else None,
           "tag_models": json.dumps(f.get("tag_models") or {}) if f else None}
    for name in DESCRIPTOR_FIELDS:
        value = f.get(name)
        row[name] = value if name in _TEXT_FIELDS or value is None else float(value)
    meta = rec.get("file_tags") or {}
    row.update({name: meta.get(name) for name in FILE_TAGS})
    return row


# --- export --------------------------------------------------------------------------------------
EXPORT_FORMATS = (".parquet", ".csv", ".jsonl", ".sqlite", ".db")


def open_any(path: str | os.PathLike[str]) -> Catalogue | ParquetCatalogue:
    """Open an existing catalogue: a SQLite file, or a Parquet dataset folder."""
    p = os.fspath(path)
    if os.path.isdir(p):
        return ParquetCatalogue.open(p, create=False)
    return Catalogue.open(p, readonly=True)


def export(source: str | os.PathLike[str], out: str | os.PathLike[str]) -> int:
    """Convert a catalogue (SQLite file or Parquet folder) to ``out``; returns the tracks written.

    ``out`` by extension: ``.parquet`` (one file), ``.csv``, ``.jsonl`` (one track per line, tags and
    embedding as columns as in ``to_pandas``), or ``.sqlite`` / ``.db`` (from a Parquet folder).

    Raises
    ------
    InputError
        Unknown output format, or a source that is not a catalogue.
    """
    o = os.fspath(out)
    ext = os.path.splitext(o)[1].lower()
    if ext not in EXPORT_FORMATS:
        raise InputError(o, f"unknown export format {ext or '(none)'}; use one of "
                            f"{', '.join(EXPORT_FORMATS)}")
    cat = open_any(source)
    if ext in (".sqlite", ".db"):
        if not isinstance(cat, ParquetCatalogue):
            raise InputError(o, "the source is already a SQLite catalogue")
        recs = cat.records()
        with Catalogue.open(o) as dst:
            dst.write(recs)
            return len(dst)
    frame = cat.to_pandas()
    frame["path"] = [display_path(p) for p in frame["path"]]
    if ext == ".parquet":
        frame.to_parquet(o, index=False)
    elif ext == ".csv":
        frame.to_csv(o, index=False)
    else:
        frame.to_json(o, orient="records", lines=True, date_format="iso")
    return len(frame)
