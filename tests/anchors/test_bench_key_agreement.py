"""The mode-flip count of scripts/bench_key_agreement.py (which way audiotaste and madmom differ)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from bench_key_agreement import mode_flips  # noqa: E402


def test_mode_flips_count_parallel_and_relative_keys_each_way() -> None:
    ours = ["A minor", "C major", "A minor", "F# minor", "E major", None, "E minor"]
    madmom = ["A major", "A minor", "C major", "A major", "E major", "C major", "F major"]
    # parallel (A), relative (C/Am), relative (Am/C), relative (F#m/A): three minor, one major;
    # the same key, a missing key, and E minor against F major (neither) are not counted
    assert mode_flips(ours, madmom) == (3, 1)
