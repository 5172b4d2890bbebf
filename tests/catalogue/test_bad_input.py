"""The bad-input corpus through the real `audiotaste tag` (real decoder and analysis)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import catalogue_corpus  # noqa: I001  (tests/catalogue is on sys.path)
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiotaste.catalogue import AnalyzerSpec, Catalogue, run_batch

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


@pytest.mark.slow
def test_every_good_file_is_catalogued_every_bad_one_is_a_clear_failure(tmp_path):
    corpus = tmp_path / "uploads"
    expected = catalogue_corpus.build(corpus)
    assert len(set(expected.values()) - {None}) >= 5 and len(expected) >= 20
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               COLUMNS="200")
    db = tmp_path / "c.sqlite"
    proc = subprocess.run([sys.executable, "-m", "audiotaste.cli", "tag", str(corpus), "--db", str(db),
                           "-j", "2"], env=env, capture_output=True, timeout=600)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert "Traceback" not in err

    with Catalogue.open(db) as cat:
        tracks = {os.path.relpath(p, corpus): row for p, row in
                  zip(cat.to_pandas()["path"], cat.to_pandas().to_dict("records"), strict=True)}
        failures = {os.path.relpath(r["path"], corpus): r for r in cat.failures().to_dict("records")}
        assert cat.integrity_check() == "ok"
    assert set(tracks) | set(failures) == set(expected)
    for name, kind in expected.items():
        if kind is None:
            assert name in tracks, failures.get(name)
        else:
            f = failures[name]
            ok_kinds = {kind, "decode"} if name == "random.mp3" else {kind}
            assert f["kind"] in ok_kinds, f
            assert f["message"] and "Traceback" not in f["message"]
            assert name.split("/")[-1] in err  # reported on the terminal, one line each
    assert tracks["two_hours.flac"]["duration_s"] == pytest.approx(7200.0)
    assert tracks["sr192k.wav"]["duration_s"] == pytest.approx(1.0)
    assert tracks["good.wav"]["tempo_bpm"] == pytest.approx(120.0, abs=1.0)


def test_a_file_that_vanishes_mid_run_is_recorded_and_the_rest_finish(tmp_path):
    music = tmp_path / "in"
    music.mkdir()
    for i, name in enumerate(("a_first.wav", "b_vanishes.wav", "c_last.wav")):
        sf.write(music / name, np.sin(np.arange(22050) / (10 + i)).astype(np.float32) * 0.3, 22050)
    with Catalogue.open(tmp_path / "c.sqlite") as cat:
        s = run_batch([str(music)], cat, workers=0,
                      spec=AnalyzerSpec(factory="catalogue_fakes:vanishing_factory"))
        assert (s.done, dict(s.failed)) == (2, {"not_found": 1})
        f = cat.failures().iloc[0]
        assert f["path"].endswith("b_vanishes.wav") and "moved or deleted" in f["message"]
        assert sorted(os.path.basename(p) for p in cat.to_pandas()["path"]) == ["a_first.wav",
                                                                               "c_last.wav"]


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=4096),
       prefix=st.sampled_from([b"", b"RIFF", b"fLaC", b"OggS", b"ID3\x03", b"\xff\xfb"]),
       ext=st.sampled_from([".wav", ".flac", ".ogg", ".mp3"]))
def test_any_bytes_give_a_record_never_an_exception(tmp_path, data, prefix, ext):
    from audiotaste.catalogue import process_file

    analyze_fn, model_id = AnalyzerSpec(tags=False).build()
    path = tmp_path / f"upload{ext}"
    path.write_bytes(prefix + data)
    st_ = path.stat()
    rec = process_file(analyze_fn, {"path": str(path), "size": st_.st_size,
                                    "mtime_ns": st_.st_mtime_ns}, model_id=model_id)
    assert rec["status"] in ("ok", "failed")
    if rec["status"] == "failed":
        assert rec["kind"] not in ("internal", "error"), rec["message"]
        assert rec["message"]
