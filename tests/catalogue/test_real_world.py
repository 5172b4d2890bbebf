"""Both taxonomies in the catalogue: our genre/mood next to musicnn's real-world ``tag.*`` columns.

The musicnn models here are look-alikes (the real architecture and front end, random weights) in a
private model cache, so these tests need neither PyPI nor ``audiotaste models fetch``. The real
analyser runs (default tagger included), on a few seconds of audio per file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from audiotaste.analysis import DESCRIPTOR_FIELDS
from audiotaste.catalogue import AnalyzerSpec, Catalogue, run_batch
from audiotaste.catalogue.export import ParquetCatalogue, export
from audiotaste.catalogue.walk import track_id_of

REAL_WORLD = AnalyzerSpec(extra_models=("musicnn-msd",))


def _musicnn_like(cache: Path, name: str, labels: list[str], *, seed: int, version: str) -> None:
    import torch

    from audiotaste.tagger.musicnn import MusicnnNet, MusicnnTagger

    torch.manual_seed(seed)
    card = {"name": name, "version": version, "labels": {"tag": labels}}
    MusicnnTagger(MusicnnNet(n_classes=len(labels)), card).save(cache / name)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from audiotaste.analysis import load_tagger
    from audiotaste.tagger.musicnn import MSD_LABELS, MTT_LABELS

    folder = tmp_path / "models"
    _musicnn_like(folder, "musicnn-msd", MSD_LABELS, seed=0, version="0.0-test")
    _musicnn_like(folder, "musicnn-mtt", MTT_LABELS, seed=1, version="0.0-test")
    monkeypatch.setenv("AUDIOTASTE_CACHE_DIR", str(folder))
    load_tagger.cache_clear()  # analyze caches models by name
    yield folder
    load_tagger.cache_clear()


@pytest.fixture
def music(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    rng = np.random.default_rng(0)
    sr = 22050
    t = np.arange(int(4.5 * sr)) / sr
    for i, f0 in enumerate((220.0, 330.0, 495.0)):
        y = 0.3 * np.sin(2 * np.pi * f0 * t) * (np.sin(2 * np.pi * (i + 1) * t) > 0)
        y += 0.02 * rng.standard_normal(t.size)
        sf.write(root / f"song{i}.wav", y.astype(np.float32), sr)
    return root


def _musicnn(name: str = "musicnn-msd"):
    from audiotaste.tagger import load_model

    return load_model(name)


def _tag_cols(df: pd.DataFrame, prefix: str) -> list[str]:
    return [c for c in df.columns if c.startswith(prefix)]


def test_a_catalogue_tagged_with_both_has_both_families(cache: Path, music: Path,
                                                        tmp_path: Path) -> None:
    import audiotaste

    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        summary = run_batch([str(music)], cat, workers=0, spec=REAL_WORLD)
        assert (summary.done, summary.n_failed) == (3, 0)
        df = cat.to_pandas().set_index("path")
    assert len(_tag_cols(df, "tag.")) == 50 and _tag_cols(df, "genre.") and _tag_cols(df, "mood.")
    probs = df[_tag_cols(df, "tag.") + _tag_cols(df, "genre.") + _tag_cols(df, "mood.")]
    assert probs.notna().all().all() and ((probs >= 0) & (probs <= 1)).all().all()
    musicnn = _musicnn()
    for path, row in df.iterrows():
        own = musicnn.predict_file(path)["tag"]  # the teacher on its own, on the same file
        assert [row[f"tag.{k}"] for k in own] == pytest.approx(list(own.values()), abs=1e-6)
        ours = audiotaste.analyze(path)  # and our taxonomy is what analyze gives without musicnn
        assert [row[f"genre.{k}"] for k in ours.tags["genre"]] == pytest.approx(
            list(ours.tags["genre"].values()), abs=1e-6)
        assert row["model"] == ours.model and row["tag_model"] == "musicnn-msd@0.0-test"
    # export keeps both, side by side
    export(tmp_path / "c.sqlite", tmp_path / "out.parquet")
    back = pd.read_parquet(tmp_path / "out.parquet")
    assert len(_tag_cols(back, "tag.")) == 50 and len(_tag_cols(back, "genre.")) == len(
        _tag_cols(df, "genre."))
    assert back["tag_model"].tolist() == ["musicnn-msd@0.0-test"] * 3


def test_real_world_tags_are_added_to_a_catalogue_without_redoing_the_rest(
    cache: Path, music: Path, tmp_path: Path
) -> None:
    from audiotaste.tagger.musicnn import MSD_LABELS, MTT_LABELS

    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        run_batch([str(music)], cat, workers=0, spec=AnalyzerSpec())
        before = cat.to_pandas().set_index("track_id")
        assert not _tag_cols(before, "tag.") and before["tag_model"].isna().all()

        added = run_batch([str(music)], cat, workers=0, spec=REAL_WORLD)
        assert (added.done, added.tags_added, added.skipped) == (0, 3, 0)
        after = cat.to_pandas().set_index("track_id")
        kept = ["path", "tagged_at", "analysis_s", "model", *DESCRIPTOR_FIELDS,
                *_tag_cols(before, "genre."), *_tag_cols(before, "mood."),
                *_tag_cols(before, "emb_")]
        pd.testing.assert_frame_equal(after[kept], before[kept])  # nothing else was redone
        musicnn = _musicnn()
        for track_id, row in after.iterrows():
            own = musicnn.predict_file(row["path"])["tag"]
            assert [row[f"tag.{k}"] for k in MSD_LABELS] == pytest.approx(
                [own[k] for k in MSD_LABELS], abs=1e-6)
            assert track_id == track_id_of(row["path"])
        assert set(after["tag_model"]) == {"musicnn-msd@0.0-test"}

        again = run_batch([str(music)], cat, workers=0, spec=REAL_WORLD)
        assert (again.done, again.tags_added, again.skipped) == (0, 0, 3)
        without = run_batch([str(music)], cat, workers=0, spec=AnalyzerSpec())
        assert without.skipped == 3 and len(_tag_cols(cat.to_pandas(), "tag.")) == 50

        # a new version of the same model: kept unless --retag, which redoes only the tag.* family
        _musicnn_like(cache, "musicnn-msd", MSD_LABELS, seed=2, version="0.0-test2")
        from audiotaste.analysis import load_tagger

        load_tagger.cache_clear()
        assert run_batch([str(music)], cat, workers=0, spec=REAL_WORLD).skipped == 3
        retag = run_batch([str(music)], cat, workers=0, spec=REAL_WORLD, retag=True)
        assert (retag.done, retag.tags_added) == (0, 3)
        newer = cat.to_pandas().set_index("track_id")
        assert set(newer["tag_model"]) == {"musicnn-msd@0.0-test2"}
        assert not np.allclose(newer["tag.rock"], after["tag.rock"])
        pd.testing.assert_frame_equal(newer[kept], before[kept])

        # another real-world model replaces the tag.* family (one model per taxonomy)
        other = run_batch([str(music)], cat, workers=0,
                          spec=AnalyzerSpec(extra_models=("musicnn-mtt",)))
        assert other.tags_added == 3
        mtt = cat.to_pandas()
        assert set(mtt["tag_model"]) == {"musicnn-mtt@0.0-test"}
        assert sorted(_tag_cols(mtt, "tag.")) == sorted(f"tag.{k}" for k in MTT_LABELS)
        assert cat.integrity_check() == "ok"


def test_a_renamed_file_gets_the_missing_taxonomy_in_the_same_run(cache: Path, music: Path,
                                                                   tmp_path: Path) -> None:
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        run_batch([str(music)], cat, workers=0, spec=AnalyzerSpec())
        before = cat.to_pandas().set_index("track_id")
        (music / "song0.wav").rename(music / "renamed.wav")
        s = run_batch([str(music)], cat, workers=0, spec=REAL_WORLD, lookup_db=cat.path)
        assert (s.done, s.known, s.tags_added) == (0, 1, 2)
        after = cat.to_pandas().set_index("track_id")
    assert after["tag_model"].tolist() == ["musicnn-msd@0.0-test"] * 3
    moved = track_id_of(music / "renamed.wav")
    assert after.loc[moved, "path"].endswith("renamed.wav")
    own = _musicnn().predict_file(music / "renamed.wav")["tag"]
    assert after.loc[moved, "tag.rock"] == pytest.approx(own["rock"], abs=1e-6)
    assert after.loc[moved, "genre.rock"] == before.loc[moved, "genre.rock"]


def test_a_parquet_catalogue_gets_real_world_tags_by_analysing_again(
    cache: Path, music: Path, tmp_path: Path
) -> None:
    sink = ParquetCatalogue.open(tmp_path / "ds")
    run_batch([str(music)], sink, workers=0, spec=AnalyzerSpec())
    sink.close()
    assert not _tag_cols(ParquetCatalogue.open(tmp_path / "ds").to_pandas(), "tag.")
    sink = ParquetCatalogue.open(tmp_path / "ds")
    redo = run_batch([str(music)], sink, workers=0, spec=REAL_WORLD)
    sink.close()
    assert (redo.done, redo.tags_added) == (3, 0)  # append-only parts: whole analyses again
    df = ParquetCatalogue.open(tmp_path / "ds").to_pandas()
    assert len(df) == 3 and len(_tag_cols(df, "tag.")) == 50 and _tag_cols(df, "genre.")
    assert set(df["tag_model"]) == {"musicnn-msd@0.0-test"}
    sink = ParquetCatalogue.open(tmp_path / "ds")
    assert run_batch([str(music)], sink, workers=0, spec=REAL_WORLD).skipped == 3
    sink.close()
    # and to SQLite, keeping which model made which taxonomy
    export(tmp_path / "ds", tmp_path / "c.sqlite")
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        assert set(cat.to_pandas()["tag_model"]) == {"musicnn-msd@0.0-test"}
        assert all(m == {"genre": m["genre"], "mood": m["genre"], "tag": "musicnn-msd@0.0-test"}
                   for m in cat.tag_models_index().values())


def test_a_version_2_catalogue_opens_and_upgrades(tmp_path: Path) -> None:
    from audiotaste.catalogue.schema import MIGRATIONS, SCHEMA_VERSION

    db = tmp_path / "v2.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    for script in MIGRATIONS[:2]:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    for name in DESCRIPTOR_FIELDS:
        conn.execute(f'ALTER TABLE tracks ADD COLUMN "{name}"')
    rows = [("a" * 16, json.dumps({"genre": {"rock": 0.9}, "instrument": {"piano": 0.7}}), "old@1"),
            ("b" * 16, "{}", None),
            ("c" * 16, "not json at all", "old@1")]  # a hand-edited row must not block the upgrade
    for track_id, tags, model in rows:
        conn.execute("INSERT INTO tracks(track_id, path, size, mtime_ns, tagged_at, tags, model,"
                     " energy) VALUES (?, ?, 1, 1, 0, ?, ?, 0.5)",
                     (track_id, f"/{track_id}.wav".encode(), tags, model))
    conn.execute("PRAGMA user_version = 2")
    conn.close()

    with Catalogue.open(db) as cat:
        assert cat.tag_models_index()["a" * 16] == {"genre": "old@1", "instrument": "old@1"}
        assert cat.tag_models_index()["b" * 16] == {}
        a = cat.get("a" * 16)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    stored = sqlite3.connect(db).execute(
        "SELECT tag_models FROM tracks WHERE track_id = ?", ("a" * 16,)).fetchone()[0]
    assert json.loads(stored) == {"genre": "old@1", "instrument": "old@1"}
    assert a is not None and a["energy"] == 0.5 and a["genre.rock"] == pytest.approx(0.9)
    assert a["model"] == "old@1" and a["tag_model"] == "old@1" and a["tag.piano"] == 0.7


def test_tags_for_a_track_that_is_gone_change_nothing(tmp_path: Path) -> None:
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        cat.write([{"path": "/x.wav", "size": 1, "mtime_ns": 1, "track_id": "f" * 16,
                    "status": "tags", "fields": {"tags": {"tag": {"rock": 0.5}},
                                                 "tag_models": {"tag": "m@1"}}}])
        assert len(cat) == 0 and cat.integrity_check() == "ok"


def test_cli_tag_real_world_then_without_the_fetch(cache: Path, music: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from audiotaste.cli.catalogue import register

    app = typer.Typer()
    register(app)
    db = tmp_path / "c.sqlite"
    first = CliRunner().invoke(app, ["tag", str(music), "--db", str(db), "-j", "0", "-q"])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(app, ["tag", str(music), "--db", str(db), "-j", "0", "-q",
                                      "--real-world"])
    assert second.exit_code == 0, second.output
    assert "tags added (rest of the analysis kept)" in second.output
    with Catalogue.open(db) as cat:
        assert len(_tag_cols(cat.to_pandas(), "tag.")) == 50

    from audiotaste.analysis import load_tagger

    def tag_real_world(target: Path, cache_dir: Path, *more: str) -> set[str]:
        """``tag --real-world`` with this model cache; the catalogue's tag_model values after it."""
        monkeypatch.setenv("AUDIOTASTE_CACHE_DIR", str(cache_dir))
        load_tagger.cache_clear()
        run = CliRunner().invoke(app, ["tag", str(music), "--db", str(target), "-j", "0", "-q",
                                       "--real-world", *more])
        assert run.exit_code == 0, run.output
        with Catalogue.open(target) as cat:
            frame = cat.to_pandas()
        assert len(_tag_cols(frame, "tag.")) == 50
        return set(frame["tag_model"])

    # without the fetch, --real-world means the shipped student: the teacher's stored tags stay,
    # a new catalogue gets the student's, and once the teacher is fetched it gets the teacher's
    empty, fresh = tmp_path / "empty", tmp_path / "fresh.sqlite"
    assert tag_real_world(db, empty) == {"musicnn-msd@0.0-test"}
    assert tag_real_world(db, empty, "--retag") == {"musicnn-msd@0.0-test"}  # not even on --retag
    assert {m.split("@")[0] for m in tag_real_world(fresh, empty)} == {"musicnn-msd-student"}
    assert tag_real_world(fresh, cache) == {"musicnn-msd@0.0-test"}
    # asking for the teacher by name without the fetch says how to get it
    monkeypatch.setenv("AUDIOTASTE_CACHE_DIR", str(empty))
    load_tagger.cache_clear()
    missing = CliRunner().invoke(app, ["tag", str(music), "--db", str(db), "-j", "0", "-q",
                                       "--extra-model", "musicnn-msd"])
    assert missing.exit_code == 1 and "audiotaste models fetch musicnn" in missing.output
    assert "Traceback" not in missing.output

_json_ish = st.one_of(
    st.none(), st.text(max_size=40),
    st.dictionaries(st.text(max_size=8), st.one_of(
        st.dictionaries(st.text(max_size=8), st.floats(0, 1), max_size=3),
        st.text(max_size=8), st.integers(), st.none()), max_size=3).map(json.dumps),
    st.lists(st.integers(), max_size=3).map(json.dumps),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tags=_json_ish, tag_models=_json_ish, model=st.one_of(st.none(), st.text(max_size=10)))
@example(tags='{"\\u0000": {}}', tag_models=None, model="0")  # SQLite's json_each cuts keys at NUL
def test_any_stored_tags_text_upgrades_and_reads(tmp_path: Path, tags: str | None,
                                                 tag_models: str | None, model: str | None) -> None:
    """Whatever a v2 row's tags hold (hand-edited, truncated, not JSON), the catalogue opens, upgrades
    and reads; taxonomies it can read come back with their model."""
    import uuid

    from audiotaste.catalogue.schema import MIGRATIONS

    db = tmp_path / f"{uuid.uuid4().hex}.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    for script in MIGRATIONS[:2]:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("INSERT INTO tracks(track_id, path, size, mtime_ns, tagged_at, tags, model)"
                 " VALUES ('a', X'2f61', 1, 1, 0, ?, ?)", (tags if tags is not None else "{}", model))
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    with Catalogue.open(db) as cat:
        index = cat.tag_models_index()["a"]
        frame = cat.to_pandas()
        cat._conn.execute("UPDATE tracks SET tag_models = ?", (tag_models or "",))
        again = cat.tag_models_index()["a"]  # a damaged tag_models column reads too
        assert len(cat.to_pandas()) == 1
    assert len(frame) == 1
    try:
        parsed = json.loads(tags) if tags else {}
    except ValueError:
        parsed = {}
    expected = set(parsed) if isinstance(parsed, dict) and model else set()
    assert set(index) == expected and all(v == model for v in index.values())
    assert set(again) >= expected
