"""The README's doorway, as a new user walks through it: every tour command on ``sample_audio/`` and the
Python example, run as written, in order, in a fresh folder.

Only what needs the network or a cluster is left out (``models fetch``, ``--address``): CI has neither.
The model cache is empty, as on a fresh machine, so ``--real-world`` uses the shipped student.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: Tour commands that need what CI lacks (the network, a Ray cluster).
NEEDS_OUTSIDE = ("models fetch", "--address")


def tour_commands(text: str) -> list[str]:
    """The ``$ audiotaste ...`` lines of the README's code blocks, in order."""
    return [line[2:].split("   #")[0].strip() for line in text.splitlines() if line.startswith("$ audiotaste ")]


def python_example(text: str) -> str:
    """The ``python`` code block of the README's "Python API" section."""
    section = text[text.index("## Python API"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the Python API section has no python block"
    return match.group(1)


def test_the_tour_is_what_the_test_runs() -> None:
    commands = tour_commands(README.read_text(encoding="utf-8"))
    runnable = [c for c in commands if not any(s in c for s in NEEDS_OUTSIDE)]
    # every command a new user meets first is here; only the fetch and the cluster are left out
    assert len(runnable) >= 10 and len(commands) - len(runnable) == 2
    assert any(c.startswith("audiotaste tag sample_audio") for c in runnable)
    assert "history.json" not in python_example(README.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_readme_tour_and_python_example_run_as_written(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    (tmp_path / "sample_audio").symlink_to(ROOT / "sample_audio")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDIOTASTE_CACHE_DIR": str(tmp_path / "cache"),
           "COLUMNS": "120"}
    env.pop("AUDIOTASTE_MODELS_DIR", None)
    cli = [sys.executable, "-m", "audiotaste.cli"]
    outputs = {}
    for command in tour_commands(text):
        if any(s in command for s in NEEDS_OUTSIDE):
            continue
        argv = shlex.split(command)
        assert argv[0] == "audiotaste"
        done = subprocess.run(cli + argv[1:], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, f"$ {command}\n{done.stderr}"
        outputs[command] = done.stdout
    analyzed = next(v for k, v in outputs.items() if k.startswith("audiotaste analyze") and "--plot" in k)
    assert "BPM" in analyzed and "genre" in analyzed
    assert (tmp_path / "analysis.png").stat().st_size > 10_000
    assert (tmp_path / "taste.png").stat().st_size > 10_000
    assert (tmp_path / "report" / "index.html").stat().st_size > 10_000
    playlist = (tmp_path / "week.m3u8").read_text(encoding="utf-8").splitlines()
    titles = [line.split(",", 1)[1] for line in playlist if line.startswith("#EXTINF")]
    assert titles and not any(re.fullmatch(r"[0-9a-f]{16}", t) for t in titles), titles  # names, not hashes
    assert all(" - " in t for t in titles), titles  # "Artist - Title"

    example = subprocess.run([sys.executable, "-c", python_example(text)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
    assert example.returncode == 0, example.stderr
    assert "reason" in example.stdout and "shelf" in example.stdout
