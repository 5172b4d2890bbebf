"""``analyze`` reports valence and arousal from the shipped affect head (models/affect)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import audiotaste
from audiotaste._paths import models_dir
from audiotaste.analysis import DESCRIPTOR_FIELDS

SR = 22050
pytestmark = pytest.mark.skipif(
    not (models_dir() / "affect" / "card.json").is_file() or not (models_dir() / "default" / "card.json").is_file(),
    reason="needs the shipped default tagger and affect head",
)


def render(*, bpm: float, major: bool, gain: float, seconds: float = 20.0, seed: int = 0) -> np.ndarray:
    """Chords (sawtooth triads, I-IV-V-I of C major or A minor's i-iv-v-i) changing every bar, a
    noise-burst kick and hat on every beat, scaled to ``gain`` peak."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    beat = 60.0 / bpm
    root = 48 if major else 45  # C3 / A2
    third = 4 if major else 3
    progression = [0, 5, 7, 0]
    y = np.zeros_like(t)
    bar = 4 * beat
    for i in range(int(seconds / bar) + 1):
        seg = (t >= i * bar) & (t < (i + 1) * bar)
        for step in (0, third, 7, 12):
            f = 440.0 * 2 ** ((root + progression[i % 4] + step - 69) / 12)
            phase = (f * t[seg]) % 1.0
            y[seg] += (2 * phase - 1) * 0.2
    n_hit = int(0.08 * SR)
    env = np.exp(-np.arange(n_hit) / (0.015 * SR))
    for k in range(int(seconds / beat)):
        s = int(k * beat * SR)
        hit = (rng.normal(size=n_hit) * 0.6 + np.sin(2 * np.pi * 60 * np.arange(n_hit) / SR)) * env
        y[s : s + n_hit] += hit[: len(y) - s] if s + n_hit > len(y) else hit
    return (gain * y / np.abs(y).max()).astype(np.float32)


def test_loud_fast_major_is_more_aroused_than_quiet_slow_minor() -> None:
    loud = audiotaste.analyze((render(bpm=150, major=True, gain=0.95), SR))
    quiet = audiotaste.analyze((render(bpm=60, major=False, gain=0.03), SR))
    assert loud.arousal is not None and quiet.arousal is not None
    assert 0.0 <= quiet.arousal < loud.arousal <= 1.0
    assert loud.valence is not None and 0.0 <= loud.valence <= 1.0
    assert "valence/arousal" not in (loud.notes or "")


def test_silence_has_no_valence_or_arousal_and_says_why() -> None:
    a = audiotaste.analyze((np.zeros(5 * SR, np.float32), SR))
    assert a.valence is None and a.arousal is None
    assert a.notes is not None and "valence/arousal: silent" in a.notes
    d = a.to_dict()
    assert d["valence"] is None and d["arousal"] is None and d["notes"]
    assert a.to_spotify()["valence"] is None
    json.dumps(d, allow_nan=False)


def test_valence_and_arousal_are_columns_and_spotify_fields() -> None:
    assert {"valence", "arousal"} <= set(DESCRIPTOR_FIELDS)
    a = audiotaste.analyze((render(bpm=120, major=True, gain=0.5, seconds=8.0), SR))
    d = a.to_dict()
    assert d["valence"] == a.valence and d["arousal"] == a.arousal
    assert a.to_spotify()["valence"] == pytest.approx(a.valence, abs=5e-4)


def test_without_tags_there_is_no_valence() -> None:
    a = audiotaste.analyze((render(bpm=120, major=True, gain=0.5, seconds=5.0), SR), tags=False)
    assert a.valence is None and a.arousal is None
    assert "valence/arousal" not in (a.notes or "")  # not asked for, as the tags: nothing to explain


def test_a_tenth_of_a_second_has_no_valence() -> None:
    a = audiotaste.analyze((render(bpm=120, major=True, gain=0.5, seconds=0.1), SR))
    assert a.valence is None and "valence/arousal: too short" in (a.notes or "")
