"""The SQLite catalogue: schema versions, writes, the public frames."""

from __future__ import annotations

import math
import os
import sqlite3
from typing import Any

import numpy as np
import pandas as pd
import pytest
from catalogue_fakes import MODEL_ID, analyze

from audiotaste.analysis import DESCRIPTOR_FIELDS
from audiotaste.catalogue import Catalogue
from audiotaste.catalogue.schema import SCHEMA_VERSION
from audiotaste.catalogue.store import analysis_fields
from audiotaste.errors import InputError


def _ok(path: str, track_id: str, *, energy: float = 0.5, size: int = 10, mtime_ns: int = 1,
        emb: tuple[float, ...] = (1.0, 2.0)) -> dict:
    fields: dict[str, Any] = {name: 1.0 for name in DESCRIPTOR_FIELDS}
    fields.update(key_name="A", key=9, energy=energy, loudness_lufs=float("-inf"))
    fields.update(tags={"genre": {"rock": 0.9}, "mood": {"sad": 0.2}, "instrument": {"piano": 0.7}},
                  embedding=list(emb), model=MODEL_ID, beat_times=[0.5], timings={"decode": 0.1})
    return {"path": path, "size": size, "mtime_ns": mtime_ns, "track_id": track_id, "status": "ok",
            "fields": fields, "seconds": 0.25}


def test_new_catalogue_has_current_schema_and_wal(tmp_path):
    db = tmp_path / "c.sqlite"
    Catalogue.open(db).close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = {r[1] for r in conn.execute("PRAGMA table_info(tracks)")}
    assert set(DESCRIPTOR_FIELDS) <= cols


def test_missing_descriptor_column_is_added_on_open(tmp_path):
    db = tmp_path / "c.sqlite"
    Catalogue.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE tracks DROP COLUMN onset_rate")
    conn.commit()
    conn.close()
    with Catalogue.open(db) as cat:
        cat.write([_ok("/a.wav", "a" * 16)])
        assert cat.get("a" * 16)["onset_rate"] == 1.0


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "c.sqlite"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(InputError, match="newer"):
        Catalogue.open(db)


def test_not_a_database_is_a_clear_error(tmp_path):
    db = tmp_path / "c.sqlite"
    db.write_text("hello, I am text\n" * 100)
    with pytest.raises(InputError, match="not a readable audiotaste catalogue"):
        Catalogue.open(db)


def test_to_pandas_columns_tags_and_embedding(tmp_path):
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        cat.write([_ok("/x/a.wav", "a" * 16, energy=0.25, emb=(1.0, 2.0, 3.0)),
                   _ok("/x/b.wav", "b" * 16, emb=(4.0,))])
        df = cat.to_pandas()
    assert list(df["track_id"]) == ["a" * 16, "b" * 16]
    assert {"path", "genre.rock", "mood.sad", "tag.piano", "emb_0", "emb_2", "model",
            *DESCRIPTOR_FIELDS} <= set(df.columns)
    a = df.iloc[0]
    assert a["path"] == "/x/a.wav" and a["energy"] == 0.25 and a["key_name"] == "A"
    assert a["genre.rock"] == pytest.approx(0.9) and a["tag.piano"] == pytest.approx(0.7)
    assert a["loudness_lufs"] == -math.inf
    assert [a["emb_0"], a["emb_1"], a["emb_2"]] == [1.0, 2.0, 3.0]
    assert df.iloc[1]["emb_0"] == 4.0 and np.isnan(df.iloc[1]["emb_2"])


def test_untagged_tracks_have_no_tag_columns(tmp_path):
    rec = _ok("/a.wav", "a" * 16)
    rec["fields"].update(tags={}, embedding=[], model=None)
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        cat.write([rec])
        df = cat.to_pandas()
    assert len(df) == 1 and not [c for c in df.columns if "." in c or c.startswith("emb_")]
    assert df.iloc[0]["model"] is None


def test_changed_content_replaces_the_track_and_renames_keep_one_row(tmp_path):
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        cat.write([_ok("/a.wav", "1" * 16)])
        cat.write([_ok("/a.wav", "2" * 16, mtime_ns=2)])  # same path, new content
        assert list(cat.to_pandas()["track_id"]) == ["2" * 16]
        cat.write([{"path": "/renamed.wav", "size": 10, "mtime_ns": 3, "track_id": "2" * 16,
                    "status": "known"}])
        df = cat.to_pandas()
        assert list(df["track_id"]) == ["2" * 16] and df.iloc[0]["path"] == "/renamed.wav"
        assert len(cat.file_index()) == 2


def test_failures_count_attempts_and_clear_on_success(tmp_path):
    bad = {"path": "/bad.mp3", "size": 3, "mtime_ns": 1, "status": "failed", "kind": "decode",
           "message": "truncated"}
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        cat.write([bad])
        cat.write([bad])
        f = cat.failures()
        assert list(f.columns[:5]) == ["path", "kind", "message", "attempts", "last_seen"]
        assert f.iloc[0]["attempts"] == 2 and f.iloc[0]["kind"] == "decode"
        assert cat.failure_index() == {b"/bad.mp3": (3, 1)}
        cat.write([_ok("/bad.mp3", "c" * 16)])
        assert cat.failures().empty and len(cat) == 1


def test_non_utf8_path_round_trips(tmp_path):
    name = os.fsdecode(b"/music/caf\xe9.wav")  # Latin-1 bytes, not UTF-8
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        cat.write([_ok(name, "d" * 16)])
        assert cat.get("d" * 16)["path"] == name
        assert b"/music/caf\xe9.wav" in cat.file_index()


def test_get_missing_is_none_and_readonly_missing_is_error(tmp_path):
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        assert cat.get("0" * 16) is None
    with pytest.raises(InputError, match="no such catalogue"):
        Catalogue.open(tmp_path / "none.sqlite", readonly=True)


def test_analysis_fields_are_json_plain(tmp_path):
    import json

    import soundfile as sf

    wav = tmp_path / "a.wav"
    sf.write(wav, np.full(800, 0.5, "f4"), 8000)
    fields = analysis_fields(analyze(str(wav)))
    assert fields["duration_s"] == pytest.approx(0.1)
    assert json.loads(json.dumps(fields))["tags"]["genre"]["rock"] == pytest.approx(0.5)


def test_write_to_a_read_only_catalogue_is_a_clear_error(tmp_path):
    db = tmp_path / "c.sqlite"
    Catalogue.open(db).close()
    with Catalogue.open(db, readonly=True) as cat, pytest.raises(InputError, match="cannot write"):
        cat.write([_ok("/a.wav", "a" * 16)])


def test_opening_during_a_write_transaction_does_not_wait(tmp_path):
    db = tmp_path / "c.sqlite"
    with Catalogue.open(db) as writer:
        writer._conn.execute("BEGIN IMMEDIATE")  # a tag run in the middle of a commit
        with Catalogue.open(db, timeout_s=0.5) as reader:
            assert len(reader) == 0
        writer._conn.execute("COMMIT")


def test_a_version_1_catalogue_is_migrated_with_its_rows_kept(tmp_path):
    from audiotaste.catalogue.schema import MIGRATIONS

    db = tmp_path / "old.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    for name in DESCRIPTOR_FIELDS:  # v1 catalogues had the descriptor columns
        conn.execute(f'ALTER TABLE tracks ADD COLUMN "{name}"')
    conn.execute("INSERT INTO tracks(track_id, path, size, mtime_ns, tagged_at, energy) "
                 "VALUES ('aaaaaaaaaaaaaaaa', X'2f612e776176', 1, 1, 0, 0.75)")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with Catalogue.open(db) as cat:
        row = cat.get("a" * 16)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert row is not None and row["path"] == "/a.wav" and row["energy"] == 0.75
    assert pd.isna(row["artist"]) and "title" in row


def test_file_tags_are_catalogued(tmp_path):
    import soundfile as sf

    from audiotaste.catalogue import AnalyzerSpec, run_batch

    music = tmp_path / "in"
    music.mkdir()
    for ext, fmt in (("flac", "FLAC"), ("mp3", "MP3")):
        with sf.SoundFile(music / f"song.{ext}", "w", 8000, 1, format=fmt) as f:
            f.artist, f.title = "Fern Hollow", f"Lantern Song ({ext})"
            f.write(np.full(8000, 0.25 if ext == "flac" else 0.5, "f4"))
    sf.write(music / "untagged.wav", np.full(800, 0.1, "f4"), 8000)
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        run_batch([str(music)], cat, workers=0, spec=AnalyzerSpec(factory="catalogue_fakes:factory"))
        df = cat.to_pandas().set_index(cat.to_pandas()["path"].map(os.path.basename))
    assert df.loc["song.flac", "artist"] == "Fern Hollow"
    assert df.loc["song.mp3", "title"] == "Lantern Song (mp3)"
    assert pd.isna(df.loc["untagged.wav", "artist"])
