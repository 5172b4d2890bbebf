"""The SQLite catalogue: one row per track (content), one per file path, one per failing path.

A *record* is the plain JSON-able dict a worker returns for one file (see
``audiotaste.catalogue.work.process_file``); ``Catalogue.write`` stores a group of records in one
transaction, so a killed writer leaves every finished file committed and nothing half-written.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audiotaste.analysis import DESCRIPTOR_FIELDS, Analysis
from audiotaste.catalogue.schema import descriptor_sql_type, migrate
from audiotaste.errors import InputError

if TYPE_CHECKING:  # pandas is imported on use: workers never need it (~60 MB each)
    import pandas as pd

#: Text tags read from the file itself (ID3, Vorbis comments, RIFF INFO), stored as columns.
FILE_TAGS = ("artist", "title", "album")

#: Taxonomies that keep their own column prefix; every other one is flattened as ``tag.<label>``.
OWN_PREFIX_TAXONOMIES = ("genre", "mood")

_INDEX_SQL = """
SELECT f.path, f.size, f.mtime_ns, f.track_id, t.model
FROM files f LEFT JOIN tracks t ON t.track_id = f.track_id
"""


def analysis_fields(a: Analysis) -> dict[str, Any]:
    """The parts of an ``Analysis`` the catalogue stores, as a JSON-able dict."""
    out: dict[str, Any] = {k: _plain(v) for k, v in a.descriptors().items()}
    out["beat_times"] = [round(float(t), 4) for t in a.beat_times]
    out["tags"] = {tax: {str(k): float(v) for k, v in probs.items()} for tax, probs in a.tags.items()}
    out["embedding"] = [float(x) for x in a.embedding]
    out["model"] = a.model
    out["tag_models"] = {str(k): str(v) for k, v in a.tag_models.items()}
    out["timings"] = {str(k): float(v) for k, v in a.timings.items()}
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def tag_models_of(tags: Mapping[str, Any], tag_models: Mapping[str, str] | None,
                  model: str | None) -> dict[str, str]:
    """``{taxonomy: "name@version"}`` of a stored track; rows written before schema v3 (or by an
    analyser that does not say) had one model for all their taxonomies: ``model``. Only the
    taxonomies ``tags`` holds are reported (SQLite's JSON functions, which the v3 upgrade used, can
    mangle a key, e.g. cut it at a NUL character, and a taxonomy without tags has no model)."""
    out = {str(k): str(v) for k, v in (tag_models or {}).items() if k in tags}
    if model:
        for taxonomy in tags:
            out.setdefault(str(taxonomy), model)
    return out


def tag_column(taxonomy: str, label: str) -> str:
    """Column name of one tag probability in ``to_pandas`` (``genre.rock``, ``tag.piano``)."""
    prefix = taxonomy if taxonomy in OWN_PREFIX_TAXONOMIES else "tag"
    return f"{prefix}.{label}"


def path_key(path: str) -> bytes:
    """The stored form of a path: its file-system bytes (file names need not be UTF-8)."""
    return os.fsencode(path)


def path_str(key: bytes | str) -> str:
    """Inverse of ``path_key`` (non-UTF-8 bytes come back as surrogate escapes, as ``os`` does)."""
    return os.fsdecode(key)


class Catalogue:
    """A catalogue of analysed tracks in one SQLite file (WAL mode, versioned schema).

    Use ``Catalogue.open(path)``; it creates the file when missing and migrates an older one.
    Several readers may use a catalogue while one ``audiotaste tag`` writes to it.
    """

    #: Records with status ``"tags"`` (more taxonomies for a stored track) are merged in place, so
    #: adding real-world tags to a catalogue does not redo the rest of each analysis.
    merges_tags = True

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self.path = path

    # --- life cycle ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False,
             timeout_s: float = 60.0) -> Catalogue:
        """Open (creating when missing, unless ``readonly``) the catalogue at ``path``.

        Parameters
        ----------
        path
            SQLite file.
        readonly
            Open without write access (and fail when the file does not exist).
        timeout_s
            Seconds to wait for another writer's transaction before giving up.

        Raises
        ------
        InputError
            Not a catalogue, a newer schema, or (``readonly``) missing.
        """
        p = os.fspath(path)
        if readonly and not os.path.isfile(p):
            raise InputError(p, "no such catalogue")
        if not readonly and not Path(p).parent.is_dir():
            raise InputError(p, "its folder does not exist")
        uri = f"file:{_uri_path(p)}?mode={'ro' if readonly else 'rwc'}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None,
                                   check_same_thread=False)
            if not readonly:
                conn.execute("PRAGMA journal_mode=WAL")
                # In WAL mode NORMAL loses nothing on a process crash (only on power loss).
                conn.execute("PRAGMA synchronous=NORMAL")
                migrate(conn, path=p)
            else:
                conn.execute("SELECT count(*) FROM tracks").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(p, f"not a readable audiotaste catalogue ({exc})") from None
        return cls(conn, p)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:  # disk full, read-only file system, a lock held too long
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            raise InputError(self.path, f"cannot write to the catalogue ({exc})") from None

    # --- what the walker needs -------------------------------------------------------------------
    def file_index(self) -> dict[bytes, tuple[int, int, str, str | None]]:
        """``{path key: (size, mtime_ns, track_id, model)}`` of every file already catalogued."""
        return {bytes(r[0]): (r[1], r[2], r[3], r[4]) for r in self._conn.execute(_INDEX_SQL)}

    def failure_index(self) -> dict[bytes, tuple[int | None, int | None]]:
        """``{path key: (size, mtime_ns)}`` of every path that failed last time it was tried."""
        rows = self._conn.execute("SELECT path, size, mtime_ns FROM failures")
        return {bytes(r[0]): (r[1], r[2]) for r in rows}

    def tag_models_index(self) -> dict[str, dict[str, str]]:
        """``{track_id: {taxonomy: "name@version"}}`` of every track (which tagger made which tags)."""
        out = {}
        for track_id, tag_models, tags, model in self._conn.execute(
                "SELECT track_id, tag_models, tags, model FROM tracks"):
            out[track_id] = tag_models_of(_json_dict(tags), _json_dict(tag_models), model)
        return out

    def track_tag_models(self, track_id: str) -> dict[str, str]:
        """``{taxonomy: "name@version"}`` of one track (``{}`` when it is not catalogued)."""
        row = self._conn.execute("SELECT tags, tag_models, model FROM tracks WHERE track_id = ?",
                                 (track_id,)).fetchone()
        return {} if row is None else tag_models_of(_json_dict(row[0]), _json_dict(row[1]), row[2])

    def track_model(self, track_id: str) -> tuple[bool, str | None]:
        """``(present, model)`` of a track, for skipping content already analysed under another name."""
        row = self._conn.execute("SELECT model FROM tracks WHERE track_id = ?", (track_id,)).fetchone()
        return (row is not None, row[0] if row else None)

    # --- writing ---------------------------------------------------------------------------------
    def write(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Store a group of worker records in one transaction."""
        now = time.time()
        with self._transaction() as c:
            for rec in records:
                key = path_key(rec["path"])
                status = rec["status"]
                if status == "failed":
                    self._forget_file(c, key)
                    c.execute(
                        "INSERT INTO failures(path, kind, message, attempts, first_seen, last_seen,"
                        " size, mtime_ns) VALUES (?, ?, ?, 1, ?, ?, ?, ?)"
                        " ON CONFLICT(path) DO UPDATE SET kind = excluded.kind,"
                        " message = excluded.message, attempts = attempts + 1,"
                        " last_seen = excluded.last_seen, size = excluded.size,"
                        " mtime_ns = excluded.mtime_ns",
                        (key, rec["kind"], rec["message"], now, now, rec.get("size"),
                         rec.get("mtime_ns")),
                    )
                    continue
                if status == "unchanged":  # re-tag found the same model: nothing new to store
                    continue
                if status == "tags":  # more taxonomies for a track already stored
                    self._merge_tags(c, rec)
                    c.execute("DELETE FROM failures WHERE path = ?", (key,))
                    continue
                track_id = rec["track_id"]
                if status == "ok":
                    self._put_track(c, rec, key, now)
                elif status == "known":
                    c.execute("UPDATE tracks SET path = ?, size = ?, mtime_ns = ? WHERE track_id = ?",
                              (key, rec["size"], rec["mtime_ns"], track_id))
                    if rec.get("fields"):  # known content that lacked an extra model's taxonomy
                        self._merge_tags(c, rec)
                else:
                    raise ValueError(f"unknown record status {status!r}")
                old = c.execute("SELECT track_id FROM files WHERE path = ?", (key,)).fetchone()
                c.execute(
                    "INSERT OR REPLACE INTO files(path, track_id, size, mtime_ns, seen_at)"
                    " VALUES (?, ?, ?, ?, ?)", (key, track_id, rec["size"], rec["mtime_ns"], now))
                if old is not None and old[0] != track_id:
                    self._drop_orphan(c, old[0])
                c.execute("DELETE FROM failures WHERE path = ?", (key,))

    def _put_track(self, c: sqlite3.Connection, rec: Mapping[str, Any], key: bytes, now: float) -> None:
        f = rec["fields"]
        emb = np.asarray(f.get("embedding") or [], dtype="<f4")
        cols = ["track_id", "path", "size", "mtime_ns", "beat_times", "tags", "embedding", "model",
                "tag_models", "timings", "analysis_s", "tagged_at", *FILE_TAGS, *DESCRIPTOR_FIELDS]
        meta = rec.get("file_tags") or {}
        timings = dict(f.get("timings") or {})
        timings.update(rec.get("timings") or {})
        values = [rec["track_id"], key, rec["size"], rec["mtime_ns"],
                  json.dumps(f.get("beat_times") or []), json.dumps(f.get("tags") or {}),
                  emb.tobytes() if emb.size else None, f.get("model"),
                  json.dumps(tag_models_of(f.get("tags") or {}, f.get("tag_models"), f.get("model"))),
                  json.dumps(timings),
                  rec.get("seconds"), now, *(meta.get(name) for name in FILE_TAGS),
                  *(f.get(name) for name in DESCRIPTOR_FIELDS)]
        names = ", ".join(f'"{c_}"' for c_ in cols)
        c.execute(f"INSERT OR REPLACE INTO tracks({names}) VALUES ({', '.join('?' * len(cols))})",
                  values)

    @staticmethod
    def _merge_tags(c: sqlite3.Connection, rec: Mapping[str, Any]) -> None:
        """Add (or replace) the record's taxonomies in its track's tags; everything else stays."""
        row = c.execute("SELECT tags, tag_models, model, timings FROM tracks WHERE track_id = ?",
                        (rec["track_id"],)).fetchone()
        if row is None:  # the track went away meanwhile (its file changed): nothing to add to
            return
        f = rec["fields"]
        tags = _json_dict(row[0])
        tag_models = tag_models_of(tags, _json_dict(row[1]), row[2])
        tags.update(f.get("tags") or {})
        tag_models.update(f.get("tag_models") or {})
        timings = _json_dict(row[3])
        timings.update(f.get("timings") or {})
        c.execute("UPDATE tracks SET tags = ?, tag_models = ?, timings = ? WHERE track_id = ?",
                  (json.dumps(tags), json.dumps(tag_models), json.dumps(timings), rec["track_id"]))

    def _forget_file(self, c: sqlite3.Connection, key: bytes) -> None:
        old = c.execute("SELECT track_id FROM files WHERE path = ?", (key,)).fetchone()
        if old is not None:
            c.execute("DELETE FROM files WHERE path = ?", (key,))
            self._drop_orphan(c, old[0])

    @staticmethod
    def _drop_orphan(c: sqlite3.Connection, track_id: str) -> None:
        # A file whose content changed leaves its old track behind; keep it only if another path has it.
        if c.execute("SELECT 1 FROM files WHERE track_id = ? LIMIT 1", (track_id,)).fetchone() is None:
            c.execute("DELETE FROM tracks WHERE track_id = ?", (track_id,))

    # --- reading ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM tracks").fetchone()[0])

    def to_pandas(self) -> pd.DataFrame:
        """One row per track: ``track_id``, ``path``, ``size``, ``mtime``, ``artist``, ``title``,
        ``album`` (from the file's own tags; None when absent), every descriptor,
        ``model`` (the main tagger, of ``genre.*`` / ``mood.*``), ``tag_model`` (the tagger of the
        ``tag.*`` columns, e.g. ``musicnn-msd@0.1.0``; None without them), ``tagged_at``,
        ``analysis_s``, ``genre.<label>``, ``mood.<label>``, ``tag.<label>`` and
        ``emb_0 … emb_<d-1>`` (NaN where a track lacks a tag or dimension)."""
        return tracks_frame(self._conn.execute(f"SELECT {_TRACK_COLS} FROM tracks ORDER BY track_id"))

    def get(self, track_id: str) -> dict[str, Any] | None:
        """One track as a dict of the ``to_pandas`` columns, or ``None`` when not catalogued."""
        rows = self._conn.execute(f"SELECT {_TRACK_COLS} FROM tracks WHERE track_id = ?", (track_id,))
        frame = tracks_frame(rows)
        return None if frame.empty else frame.iloc[0].to_dict()

    def failures(self) -> pd.DataFrame:
        """Every path whose last attempt failed: ``path``, ``kind``, ``message``, ``attempts``,
        ``last_seen`` (UTC), ``first_seen`` (UTC)."""
        import pandas as pd

        rows = self._conn.execute(
            "SELECT path, kind, message, attempts, last_seen, first_seen FROM failures ORDER BY path"
        ).fetchall()
        frame = pd.DataFrame(rows, columns=["path", "kind", "message", "attempts", "last_seen",
                                            "first_seen"])
        frame["path"] = pd.Series([path_str(bytes(p)) for p in frame["path"]], dtype=object)
        for col in ("last_seen", "first_seen"):
            frame[col] = pd.to_datetime(frame[col], unit="s", utc=True)
        frame["attempts"] = frame["attempts"].astype("int64")
        return frame

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` verdict (``"ok"`` when healthy)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])


_TRACK_COLS = ", ".join(
    f'"{c}"' for c in ("track_id", "path", "size", "mtime_ns", *FILE_TAGS, *DESCRIPTOR_FIELDS,
                       "model", "tagged_at", "analysis_s", "tag_models", "tags", "embedding"))


def tracks_frame(rows: Iterable[Any]) -> pd.DataFrame:
    """Flatten stored track rows (``_TRACK_COLS`` order) into the public ``to_pandas`` frame."""
    import pandas as pd

    base: list[dict[str, Any]] = []
    tag_model_col: list[str | None] = []
    tag_rows: list[dict[str, float]] = []
    embs: list[np.ndarray] = []
    paths: list[str] = []
    names = ("track_id", "path", "size", "mtime_ns", *FILE_TAGS, *DESCRIPTOR_FIELDS, "model",
             "tagged_at", "analysis_s")
    for row in rows:
        rec = dict(zip(names, row[: len(names)], strict=True))
        paths.append(path_str(bytes(rec.pop("path"))))
        base.append(rec)
        tags = _json_dict(row[-2])
        models = tag_models_of(tags, _json_dict(row[-3]), rec["model"])
        others = dict.fromkeys(m for tax, m in models.items() if tax not in OWN_PREFIX_TAXONOMIES)
        tag_model_col.append(" + ".join(others) or None)
        tag_rows.append({tag_column(tax, label): v for tax, probs in tags.items()
                         if isinstance(probs, dict)
                         for label, p in probs.items() if (v := _number(p)) is not None})
        embs.append(np.frombuffer(row[-1], dtype="<f4") if row[-1] else np.zeros(0, "<f4"))
    frame = pd.DataFrame(base, columns=[n for n in names if n != "path"])
    for name in DESCRIPTOR_FIELDS:  # a numeric column of nothing but nulls is NaN, not None
        if descriptor_sql_type(name) != "TEXT" and frame[name].dtype == object:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    # object dtype: a non-UTF-8 file name (surrogate escapes) cannot live in an Arrow string column
    frame.insert(1, "path", pd.Series(paths, dtype=object, index=frame.index))
    frame.insert(3, "mtime", pd.to_datetime(frame.pop("mtime_ns"), unit="ns", utc=True))
    frame.insert(int(frame.columns.get_loc("model")) + 1, "tag_model",
                 pd.Series(tag_model_col, dtype=object, index=frame.index))
    frame["tagged_at"] = pd.to_datetime(frame["tagged_at"], unit="s", utc=True)
    parts = [frame]
    if any(tag_rows):
        parts.append(pd.DataFrame(tag_rows, index=frame.index).sort_index(axis=1).astype("float64"))
    dim = max((e.size for e in embs), default=0)
    if dim:
        mat = np.full((len(embs), dim), np.nan, dtype="float64")
        for i, e in enumerate(embs):
            mat[i, : e.size] = e
        parts.append(pd.DataFrame(mat, index=frame.index, columns=[f"emb_{i}" for i in range(dim)]))
    return pd.concat(parts, axis=1) if len(parts) > 1 else frame


def _number(value: Any) -> float | None:
    """A stored probability as a float; None for anything else (a hand-edited row)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _json_dict(text: Any) -> dict[str, Any]:
    """A stored JSON object; ``{}`` for NULL, NaN (an older Parquet part), a non-object or text that
    is not JSON (a hand-edited row reads as untagged rather than making the catalogue unreadable)."""
    if not isinstance(text, (str, bytes)) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(os.fsencode(os.path.abspath(path)))
