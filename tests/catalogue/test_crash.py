"""Crash safety of `audiotaste tag`, for real: kill -9, Ctrl-C, and a second run on the same catalogue."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
N_FILES = 12

pytestmark = pytest.mark.slow


def _env(sleep: float) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), env.get("PYTHONPATH", "")])
    env["FAKE_ANALYZE_SLEEP"] = str(sleep)
    env["COLUMNS"] = "120"
    return env


def _tag(tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "audiotaste.cli", "tag", str(tmp_path / "in"), "--db",
            str(tmp_path / "c.sqlite"), "--analyzer", "catalogue_fakes:factory", "-j", "2", "-q",
            *extra]


def _start(tmp_path: Path, sleep: float) -> subprocess.Popen[str]:
    return subprocess.Popen(_tag(tmp_path), env=_env(sleep), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _rows(db: Path) -> dict[str, float]:
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return dict(conn.execute("SELECT track_id, tagged_at FROM tracks").fetchall())
    except sqlite3.OperationalError:  # tables not created yet
        return {}


def _wait_rows(db: Path, n: int, proc: subprocess.Popen[str], timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _rows(db)
        if len(rows) >= n:
            return rows
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} rows after {timeout} s")


def _group_gone(pgid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def music(tmp_path):
    for i in range(N_FILES):
        path = tmp_path / "in" / f"t{i:02d}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, np.full(800, 0.05 * (i + 1), "f4"), 8000)
    return tmp_path


def test_kill_9_mid_run_then_rerun_redoes_only_unfinished_files(music):
    db = music / "c.sqlite"
    proc = _start(music, sleep=0.4)
    before = _wait_rows(db, 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _group_gone(proc.pid), "orphaned workers outlived the killed writer"
    before = _rows(db)  # whatever was committed up to the kill
    assert 3 <= len(before) < N_FILES

    again = subprocess.run(_tag(music), env=_env(0), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    after = _rows(db)
    assert len(after) == N_FILES
    assert {k: after[k] for k in before} == before  # committed rows were not redone
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == N_FILES
        assert conn.execute("SELECT count(*) FROM failures").fetchone()[0] == 0
    assert "Traceback" not in again.stderr


def test_second_run_refuses_then_ctrl_c_stops_cleanly_and_resumes(music):
    db = music / "c.sqlite"
    first = _start(music, sleep=2.5)  # slow enough that the second run starts meanwhile
    _wait_rows(db, 1, first)
    second = subprocess.run(_tag(music), env=_env(0), capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert f"being written by another audiotaste tag (pid {first.pid})" in second.stderr

    os.killpg(first.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    assert "Run the same command again to resume" in err and "Traceback" not in err
    assert _group_gone(first.pid)
    done = len(_rows(db))
    assert 1 <= done < N_FILES

    resumed = subprocess.run(_tag(music), env=_env(0), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert len(_rows(db)) == N_FILES
