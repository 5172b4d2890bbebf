"""The Ray Data engine on a real local Ray (the `ray` extra)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import soundfile as sf

from audiotaste.catalogue import AnalyzerSpec, Catalogue, run_batch

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                       reason="ray is not installed (pip install 'audiotaste[ray]')"),
]

FAKE = AnalyzerSpec(factory="catalogue_fakes:factory")


def test_ray_engine_gives_the_same_catalogue_as_the_local_one(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    music = tmp_path / "in"
    music.mkdir()
    for i in range(6):
        sf.write(music / f"t{i}.wav", np.full(800, 0.1 * (i + 1), "f4"), 8000)
    (music / "bad.flac").write_bytes(b"fLaC" + bytes(100))
    with Catalogue.open(tmp_path / "ray.sqlite") as ray_cat, \
            Catalogue.open(tmp_path / "local.sqlite") as local_cat:
        s = run_batch([str(music)], ray_cat, engine="ray", workers=2, spec=FAKE)
        run_batch([str(music)], local_cat, workers=0, spec=FAKE)
        assert (s.done, dict(s.failed), s.interrupted) == (6, {"decode": 1}, False)
        drop = ["tagged_at", "analysis_s"]
        assert ray_cat.to_pandas().drop(columns=drop).equals(local_cat.to_pandas().drop(columns=drop))
        assert ray_cat.failures()["kind"].tolist() == ["decode"]
        again = run_batch([str(music)], ray_cat, engine="ray", workers=2, spec=FAKE)
        assert (again.done, again.skipped, again.skipped_failed) == (0, 6, 1)


def test_unreachable_cluster_address_fails_fast_and_clearly(tmp_path):
    import socket
    import time

    from audiotaste.errors import InputError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "a.wav").write_bytes(b"RIFF" + bytes(100))
    t0 = time.monotonic()
    with Catalogue.open(tmp_path / "c.sqlite") as cat, \
            pytest.raises(InputError, match="no Ray cluster answers there"):
        run_batch([str(tmp_path / "a.wav")], cat, engine="ray", workers=1, spec=FAKE,
                  address=f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 30
