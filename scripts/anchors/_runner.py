"""The loop every anchor runner shares (stdlib only: it runs inside each anchor's own venv).

A runner reads audio paths, one per line, from stdin (all of them, before the first file) and writes one JSON line per file to stdout,
flushed at once so that the caller can cache each result as it arrives (a killed run loses at most
the file in progress)::

    {"path": ..., "duration_s": ..., "decode_s": ..., "results": {VARIANT: {...}}}
    {"path": ..., "error": "ValueError: ..."}

Each variant's dict may hold ``tempo`` (BPM), ``beats`` (seconds), ``key`` (e.g. ``"F# minor"``),
``tags`` ({name: probability}) and ``time_s`` (CPU seconds of that variant, decoding excluded).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

Analyse = Callable[[str], tuple[float, float, dict[str, dict[str, Any]]]]


def timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fn`` and add its CPU time (process time: the machine is shared, wall time is noise)."""
    start = time.process_time()
    out = fn()
    out["time_s"] = time.process_time() - start
    return out


def serve(analyse: Analyse) -> None:
    """For each path on stdin, ``analyse(path) -> (duration_s, decode_s, results)`` and print a JSON line.

    The JSON lines get a private copy of stdout; file descriptor 1 itself is pointed at stderr, because
    the libraries print progress bars and warnings to stdout (Keras' ``predict``, Essentia's logger).
    """
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    # every path is read first and stdin then points at /dev/null: madmom decodes through an ffmpeg
    # subprocess that inherits stdin and swallowed part of a long path list (clips silently skipped,
    # two paths spliced into one)
    paths = sys.stdin.read().splitlines()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for line in paths:
        path = line.rstrip("\n")
        if not path:
            continue
        try:
            duration_s, decode_s, results = analyse(path)
            row: dict[str, Any] = {
                "path": path,
                "duration_s": duration_s,
                "decode_s": decode_s,
                "results": results,
            }
        except Exception as exc:  # noqa: BLE001 - one bad file must not end the batch
            last = traceback.format_exc().strip().splitlines()[-1]
            row = {"path": path, "error": f"{type(exc).__name__}: {exc}"[:500], "trace": last[:300]}
        out.write(json.dumps(row) + "\n")
        out.flush()


def to_list(values: Any) -> list[float]:
    """Beat times as plain floats (numpy arrays are not JSON)."""
    return [round(float(v), 4) for v in values]
