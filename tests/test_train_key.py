"""scripts/train_key.py's random windows and MIREX score, on known answers (no corpus needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import train_key as t  # noqa: E402

from audiotaste.features.pitch import N_KEY_ROWS, KeyFrames, summarise_key_frames  # noqa: E402


def numbered_frames(n: int = 200, fps: float = 5.0) -> KeyFrames:
    """Frame i sounds pitch class i % 12 alone (in every register), so a window's opening block
    names its first frame and its ending block its last."""
    registers = np.zeros((3, 12, n), np.float32)
    registers[:, np.arange(n) % 12, np.arange(n)] = 1.0
    return KeyFrames(registers, registers[0].copy(), 0.5, fps)


def test_random_windows_are_windows_of_the_clip() -> None:
    frames = numbered_frames()
    rng = np.random.default_rng(0)
    windows = t.random_windows(frames, 50, rng, min_s=6.0, min_share=0.4)
    assert windows.shape == (50, N_KEY_ROWS, 12)
    cuts = [(start, start + length) for length in range(80, 201) for start in range(0, 201 - length)]
    # every window is the summary of some cut of at least max(6 s x 5 fps, 40 % of 200) = 80 frames
    summaries = [summarise_key_frames(frames, start=a, stop=b) for a, b in cuts]
    for w in windows:
        assert any(np.array_equal(w, s) for s in summaries)
    # and they are not all the whole clip: the openings differ
    assert len({w[3].tobytes() for w in windows}) > 3


def test_random_windows_of_a_short_clip_are_the_clip() -> None:
    frames = numbered_frames(20)  # 4 s, shorter than min_s: every window is the whole clip
    windows = t.random_windows(frames, 5, np.random.default_rng(1), min_s=6.0)
    assert all(np.array_equal(w, summarise_key_frames(frames)) for w in windows)


def test_mirex_known_answers() -> None:
    ref = np.array([0, 0, 0, 0, 0, 12])  # C major x5, C minor
    pred = np.array([0, 7, 21, 12, 5, 3])  # right, fifth above, relative minor, parallel, other, relative
    assert t.mirex(pred, ref) == (1 + 0.5 + 0.3 + 0.2 + 0 + 0.3) / 6
    assert t.mirex(np.array([-1]), np.array([0])) == 0.0
