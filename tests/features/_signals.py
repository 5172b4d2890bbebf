"""Synthetic signals with known tempo, meter and key for the rhythm and tonal tests."""

from __future__ import annotations

import numpy as np

SR = 22050


def click_track(bpm: float, *, dur: float = 20.0, sr: int = SR, accent_every: int | None = None) -> np.ndarray:
    """1 kHz clicks every beat from 0.5 s; with ``accent_every`` the bar's first click is twice as loud."""
    y = np.zeros(int(dur * sr), np.float32)
    t = np.arange(int(0.02 * sr)) / sr
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-t * 200)).astype(np.float32)
    for i, b in enumerate(np.arange(0.5, dur - 0.1, 60.0 / bpm)):
        s = int(b * sr)
        gain = 1.0 if accent_every is None or i % accent_every == 0 else 0.5
        y[s : s + click.size] += gain * click[: y.size - s]
    return y


def six_eight(dotted_bpm: float, *, dur: float = 20.0, sr: int = SR) -> np.ndarray:
    """6/8 groove: a kick on every dotted quarter and soft high ticks on the eighths between."""
    y = np.zeros(int(dur * sr), np.float32)
    t = np.arange(int(0.15 * sr)) / sr
    kick = (np.sin(2 * np.pi * 60 * t * (1 + 2 * np.exp(-t * 30))) * np.exp(-t * 25)).astype(np.float32)
    tt = np.arange(int(0.02 * sr)) / sr
    tick = (0.25 * np.sin(2 * np.pi * 3000 * tt) * np.exp(-tt * 300)).astype(np.float32)
    for i, b in enumerate(np.arange(0.5, dur - 0.2, 60.0 / dotted_bpm / 3)):
        s = int(b * sr)
        sound = kick if i % 3 == 0 else tick
        n = min(sound.size, y.size - s)
        y[s : s + n] += sound[:n]
    return y


def _tone(midi: float, dur: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(dur * sr)) / sr
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    return sum(0.6**h * np.sin(2 * np.pi * f0 * (h + 1) * t) for h in range(6) if f0 * (h + 1) < sr / 2) * np.exp(-2.0 * t)


def cadence(
    tonic: int, *, minor: bool, chord_s: float = 1.0, sr: int = SR, detune_cents: float = 0.0
) -> np.ndarray:
    """i-iv-V-i (or I-IV-V-I) in root position with the root doubled an octave below, harmonic tones.

    ``detune_cents`` shifts every pitch (an instrument tuned away from A4 = 440 Hz).
    """
    third = 3 if minor else 4
    chords = [(0, third, 7), (5, 5 + third, 12), (7, 11, 14), (0, third, 7)]
    root = 48 + tonic
    shift = detune_cents / 100.0
    parts = [
        sum(_tone(n + shift, chord_s, sr) for n in [root - 12 + c[0], *(root + x for x in c)]) for c in chords
    ]
    y = np.concatenate(parts)
    return (0.2 * y / np.abs(y).max()).astype(np.float32)
