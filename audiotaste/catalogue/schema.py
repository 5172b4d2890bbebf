"""The catalogue's SQLite schema and its migrations (``PRAGMA user_version``).

Each entry of ``MIGRATIONS`` takes a catalogue from version ``i`` to ``i + 1`` and runs in one
transaction, so a catalogue is always at a known version. Descriptor columns follow
``audiotaste.analysis.DESCRIPTOR_FIELDS``; a descriptor added there later becomes a new nullable
column on the next open (additive, no version bump needed), so old catalogues keep working.

Paths are stored as BLOBs of the file-system bytes (``os.fsencode``): file names need not be UTF-8,
and the walk must find the very same key again to skip unchanged files.
"""

from __future__ import annotations

import sqlite3

from audiotaste.analysis import DESCRIPTOR_FIELDS
from audiotaste.errors import InputError

SCHEMA_VERSION = 3

_V1 = """
CREATE TABLE tracks (
    track_id   TEXT PRIMARY KEY,          -- first 16 hex chars of sha256(file bytes)
    path       BLOB NOT NULL,             -- last path the content was seen at
    size       INTEGER NOT NULL,          -- bytes
    mtime_ns   INTEGER NOT NULL,
    beat_times TEXT,                      -- JSON list, seconds
    tags       TEXT NOT NULL DEFAULT '{}',-- JSON {taxonomy: {label: probability}}
    embedding  BLOB,                      -- float32 little-endian
    model      TEXT,                      -- "name@version" of the tagger, NULL without tags
    timings    TEXT NOT NULL DEFAULT '{}',-- JSON {stage: seconds}
    analysis_s REAL,                      -- wall seconds for the whole file in the worker
    tagged_at  REAL NOT NULL              -- unix seconds
);
CREATE TABLE files (
    path     BLOB PRIMARY KEY,
    track_id TEXT NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    seen_at  REAL NOT NULL
);
CREATE INDEX files_track ON files(track_id);
CREATE TABLE failures (
    path       BLOB PRIMARY KEY,
    kind       TEXT NOT NULL,
    message    TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen  REAL NOT NULL,
    size       INTEGER,
    mtime_ns   INTEGER
);
"""

# v2: the recording's own tags (ID3 / Vorbis comments / RIFF INFO), NULL when the file has none.
_V2 = """
ALTER TABLE tracks ADD COLUMN artist TEXT;
ALTER TABLE tracks ADD COLUMN title TEXT;
ALTER TABLE tracks ADD COLUMN album TEXT
"""

# v3: which model produced each taxonomy of ``tags`` (JSON {taxonomy: "name@version"}), so that our
# genre/mood and a real-world tagger's ``tag`` taxonomy (musicnn) can sit side by side and be
# added or redone separately. Older rows had one tagger for everything: ``model``. (The CASE guards
# the upgrade against a hand-edited row: a catalogue must never fail to open because of one.)
_V3 = """
ALTER TABLE tracks ADD COLUMN tag_models TEXT NOT NULL DEFAULT '{}';
UPDATE tracks SET tag_models = (SELECT json_group_object(key, tracks.model) FROM json_each(tracks.tags))
WHERE model IS NOT NULL AND model != ''
  AND (CASE WHEN json_valid(tags) THEN json_type(tags) END) = 'object'
"""

#: ``MIGRATIONS[i]`` upgrades a catalogue from ``user_version == i`` to ``i + 1``.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)

_SQL_TYPES = {"key_name": "TEXT", "sample_rate": "INTEGER", "channels": "INTEGER", "key": "INTEGER",
              "mode": "INTEGER", "time_signature": "INTEGER", "notes": "TEXT"}


def descriptor_sql_type(name: str) -> str:
    """SQLite column type of a descriptor."""
    return _SQL_TYPES.get(name, "REAL")


def migrate(conn: sqlite3.Connection, *, path: str) -> int:
    """Bring ``conn``'s catalogue to ``SCHEMA_VERSION``; returns the version found on disk.

    Raises
    ------
    InputError
        The file was written by a newer audiotaste (its version is above ``SCHEMA_VERSION``).
    """
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise InputError(path, f"catalogue schema version {found} is newer than this audiotaste "
                               f"understands ({SCHEMA_VERSION}); upgrade audiotaste")
    if found == SCHEMA_VERSION and not _missing_columns(conn):
        return found  # nothing to do: take no write lock (readers may open during a tag run)
    # Re-read the version inside BEGIN IMMEDIATE: another process may have migrated meanwhile.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        for step in range(version, SCHEMA_VERSION):
            # executescript would COMMIT first; run statement by statement inside our transaction.
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {step + 1}")
        for name in _missing_columns(conn):
            conn.execute(f'ALTER TABLE tracks ADD COLUMN "{name}" {descriptor_sql_type(name)}')
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def _missing_columns(conn: sqlite3.Connection) -> list[str]:
    have = {row[1] for row in conn.execute("PRAGMA table_info(tracks)")}
    return [name for name in DESCRIPTOR_FIELDS if name not in have]
