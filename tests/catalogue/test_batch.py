"""Batch tagging: incremental skips, renames, re-tagging, worker crashes (with a fast fake analyser)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from audiotaste.catalogue import AnalyzerSpec, Catalogue, run_batch
from audiotaste.catalogue.export import ParquetCatalogue, export
from audiotaste.catalogue.walk import track_id_of
from audiotaste.errors import AudiotasteError

FAKE = AnalyzerSpec(factory="catalogue_fakes:factory")


def _wav(path, value: float, n: int = 800, sr: int = 8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(n, value, "f4"), sr)
    return path


@pytest.fixture
def music(tmp_path):
    root = tmp_path / "in"
    for i in range(4):
        _wav(root / f"t{i}.wav", 0.1 * (i + 1))
    (root / "bad.ogg").write_bytes(b"OggS" + os.urandom(200))
    return root


def test_inline_batch_then_nothing_to_do_then_changed_and_renamed(tmp_path, music):
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        s1 = run_batch([str(music)], cat, workers=0, spec=FAKE)
        assert (s1.found, s1.done, s1.n_failed) == (5, 4, 1)
        assert s1.failures[0][0].endswith("bad.ogg") and s1.failures[0][1] == "decode"
        df = cat.to_pandas()
        assert sorted(df["genre.rock"].round(3)) == [0.1, 0.2, 0.3, 0.4]
        ids = {track_id_of(music / f"t{i}.wav") for i in range(4)}
        assert set(df["track_id"]) == ids

        s2 = run_batch([str(music)], cat, workers=0, spec=FAKE)
        assert (s2.done, s2.skipped, s2.skipped_failed, s2.n_failed) == (0, 4, 1, 0)

        _wav(music / "t0.wav", 0.9)  # new content, same path
        os.rename(music / "t1.wav", music / "moved.wav")
        s3 = run_batch([str(music)], cat, workers=0, spec=FAKE, lookup_db=cat.path)
        assert (s3.done, s3.known, s3.skipped) == (1, 1, 2)
        df = cat.to_pandas().set_index("track_id")
        assert len(df) == 4
        assert df.loc[track_id_of(music / "t0.wav"), "energy"] == pytest.approx(0.9, abs=1e-3)
        assert df.loc[track_id_of(music / "moved.wav"), "path"].endswith("moved.wav")

        s4 = run_batch([str(music)], cat, workers=0, spec=FAKE, force=True, retry_failed=True)
        assert (s4.done, s4.n_failed) == (4, 1)
        assert cat.failures().iloc[0]["attempts"] == 2
        assert cat.integrity_check() == "ok"


def test_retag_only_redoes_files_of_another_model(tmp_path, music, monkeypatch):
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        run_batch([str(music)], cat, workers=0, spec=FAKE)
        same = run_batch([str(music)], cat, workers=0, spec=FAKE, retag=True)
        assert (same.done, same.skipped) == (0, 4)
        monkeypatch.setattr("catalogue_fakes.MODEL_ID", "fake@2")
        new = run_batch([str(music)], cat, workers=0, spec=FAKE, retag=True)
        assert new.done == 4
        assert set(cat.to_pandas()["model"]) == {"fake@2"}


def test_process_pool_matches_inline_and_survives_a_worker_crash(tmp_path, music):
    shutil.copy(music / "t2.wav", music / "crash.wav")
    shutil.copy(music / "t3.wav", music / "hang.wav")
    spec = AnalyzerSpec(factory="catalogue_fakes:crashing_factory")
    with Catalogue.open(tmp_path / "pool.sqlite") as pool, \
            Catalogue.open(tmp_path / "inline.sqlite") as inline:
        s = run_batch([str(music)], pool, workers=2, spec=spec, file_timeout_s=3.0)
        run_batch([str(music)], inline, workers=0, spec=FAKE)
        assert (s.done, s.n_failed) == (4, 3)
        assert dict(s.failed) == {"decode": 1, "crash": 1, "timeout": 1}
        why = pool.failures().set_index("kind")["message"]
        assert "exited unexpectedly" in why["crash"] and "longer than 3 s" in why["timeout"]
        a = pool.to_pandas().drop(columns=["tagged_at", "analysis_s"])
        b = inline.to_pandas().drop(columns=["tagged_at", "analysis_s"])
        b = b[b["track_id"].isin(a["track_id"])].reset_index(drop=True)
        assert a.equals(b)
        assert 0 < s.peak_worker_mb < 2000


def test_worker_that_cannot_build_its_analyser_stops_the_batch_clearly(tmp_path, music):
    with Catalogue.open(tmp_path / "c.sqlite") as cat, \
            pytest.raises(AudiotasteError, match="no such tagger model"):
        run_batch([str(music)], cat, workers=1, spec=AnalyzerSpec(factory="catalogue_fakes:broken_factory"))


def test_parquet_sink_is_incremental_and_exports_back_to_sqlite(tmp_path, music):
    out = tmp_path / "ds"
    sink = ParquetCatalogue.open(out)
    run_batch([str(music)], sink, workers=0, spec=FAKE)
    sink.close()
    sink = ParquetCatalogue.open(out)
    again = run_batch([str(music)], sink, workers=0, spec=FAKE)
    sink.close()
    assert (again.done, again.skipped, again.skipped_failed) == (0, 4, 1)
    df = ParquetCatalogue.open(out).to_pandas()
    assert len(df) == 4 and {"genre.rock", "emb_3", "tag.piano"} <= set(df.columns)
    assert ParquetCatalogue.open(out).failures().iloc[0]["kind"] == "decode"
    assert export(out, tmp_path / "back.sqlite") == 4
    with Catalogue.open(tmp_path / "back.sqlite") as back:
        b = back.to_pandas()
        assert back.failures().iloc[0]["kind"] == "decode"
    cols = ["track_id", "path", "energy", "genre.rock", "emb_0"]
    assert b[cols].equals(df[cols])


@pytest.mark.parametrize("ext", ["parquet", "csv", "jsonl"])
def test_export_formats_round_trip_the_values(tmp_path, music, ext):
    import pandas as pd

    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        run_batch([str(music)], cat, workers=0, spec=FAKE)
        want = cat.to_pandas()
    out = tmp_path / f"out.{ext}"
    assert export(tmp_path / "c.sqlite", out) == 4
    got = {"parquet": pd.read_parquet, "csv": pd.read_csv,
           "jsonl": lambda p: pd.read_json(p, lines=True)}[ext](out)
    assert list(got["track_id"]) == list(want["track_id"])
    np.testing.assert_allclose(got["genre.rock"], want["genre.rock"], rtol=1e-6)
    np.testing.assert_allclose(got["emb_0"], want["emb_0"], rtol=1e-6)


def test_a_second_writer_on_the_same_catalogue_is_refused(tmp_path, music):
    from audiotaste.catalogue import CatalogueBusyError
    from audiotaste.catalogue.batch import writer_lock

    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        with writer_lock(cat.path), pytest.raises(CatalogueBusyError, match=f"pid {os.getpid()}"):
            run_batch([str(music)], cat, workers=0, spec=FAKE, wait_s=0.3)
        assert run_batch([str(music)], cat, workers=0, spec=FAKE).done == 4  # released
