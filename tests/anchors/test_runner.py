"""The anchors' shared runner loop (scripts/anchors/_runner.py), run as the anchors run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUNNER = '''
import subprocess, sys
sys.path.insert(0, {anchors!r})
import _runner

def analyse(path):
    # like madmom's ffmpeg decoder: a child process that inherits stdin and reads it
    subprocess.run([sys.executable, "-c", "import sys; sys.stdin.read()"], check=True)
    return 1.0, 0.0, {{"v": {{"tempo": 120.0}}}}

_runner.serve(analyse)
'''


def test_a_child_process_reading_stdin_cannot_swallow_the_path_list(tmp_path):
    script = tmp_path / "runner.py"
    script.write_text(RUNNER.format(anchors=str(Path(__file__).resolve().parents[2] / "scripts" / "anchors")))
    paths = [f"/music/{i:04d} " + "a long name, so that the list outgrows a pipe read buffer " * 2 + ".ogg" for i in range(120)]
    done = subprocess.run([sys.executable, str(script)], input="\n".join(paths) + "\n", capture_output=True,
                          text=True, check=True, timeout=120)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["path"] for r in rows] == paths
    assert all(r["results"]["v"]["tempo"] == 120.0 for r in rows)
