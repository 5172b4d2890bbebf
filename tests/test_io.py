"""audiotaste._io: a write either happens whole or not at all."""

from __future__ import annotations

import json
import os
import stat

import pytest

from audiotaste._io import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text


def test_write_creates_folder_and_replaces(tmp_path):
    target = tmp_path / "a" / "b.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["b.txt"]  # no temporary left behind


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed half-way")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_json_round_trip(tmp_path):
    target = tmp_path / "state.json"
    atomic_write_json(target, {"ü": [1, 2.5, None]})
    assert json.loads(target.read_text(encoding="utf-8")) == {"ü": [1, 2.5, None]}
    assert target.read_text(encoding="utf-8").endswith("\n")
