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


def white_noise(*, dur: float = 10.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Gaussian white noise at -23 dB RMS: no pulse, no key."""
    return (0.07 * np.random.default_rng(seed).standard_normal(int(dur * sr))).astype(np.float32)


def drums(bpm: float = 120.0, *, dur: float = 12.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Kick on the beat, a noise snare on the off-beats, hi-hat eighths: a pulse, but no key."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(dur * sr), np.float32)
    t = np.arange(int(0.3 * sr)) / sr
    kick = np.sin(2 * np.pi * 50 * t * (1 + 3 * np.exp(-t * 40))) * np.exp(-t * 15)
    snare = 0.5 * rng.standard_normal(t.size) * np.exp(-t * 25) + 0.3 * np.sin(2 * np.pi * 190 * t) * np.exp(-t * 30)
    hat = np.diff(0.2 * rng.standard_normal(t.size + 1) * np.exp(-np.arange(t.size + 1) / sr * 120))
    for i, b in enumerate(np.arange(0.2, dur - 0.3, 30.0 / bpm)):
        s = int(b * sr)
        n = min(t.size, y.size - s)
        hit = hat + (kick if i % 2 == 0 else 0.0) + (snare if i % 4 == 2 else 0.0)
        y[s : s + n] += hit[:n].astype(np.float32)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def speech_like(*, dur: float = 10.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Voiced syllables (0.12-0.35 s) whose pitch glides 100-220 Hz through formant-shaped harmonics,
    with noise consonants and pauses: pitched, but in no key."""
    rng = np.random.default_rng(seed)
    n = int(dur * sr)
    y = np.zeros(n, np.float64)
    t0 = 0.1
    while t0 < dur - 0.5:
        length = rng.uniform(0.12, 0.35)
        tt = np.arange(int(length * sr)) / sr
        f0 = rng.uniform(100, 220) * (1 + rng.uniform(-0.25, 0.25) * tt / length)
        phase = 2 * np.pi * np.cumsum(f0) / sr
        f1, f2 = rng.uniform(300, 900), rng.uniform(900, 2500)
        voiced = sum(
            np.sin(h * phase) * (np.exp(-(((h * f0 - f1) / 200) ** 2)) + 0.5 * np.exp(-(((h * f0 - f2) / 300) ** 2)) + 0.05)
            for h in range(1, 30)
        )
        s = int(t0 * sr)
        m = min(tt.size, n - s)
        y[s : s + m] += (voiced * np.sin(np.pi * tt / length))[:m]
        c = min(int(0.05 * sr), max(0, n - s - m))
        y[s + m : s + m + c] += 0.2 * rng.standard_normal(c)
        t0 += length + rng.uniform(0.03, 0.25)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def offbeat_hats(bpm: float = 170.0, *, dur: float = 30.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Kick on beats 1 and 3, snare on 2 and 4, and open hi-hats on every off-beat eighth (the
    up-tempo dance and ska pattern): the brightest onsets, and the longest, fall between the beats.
    Beats from 0.5 s."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(dur * sr), np.float32)
    t = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * 50 * t * (1 + 3 * np.exp(-t * 40))) * np.exp(-t * 15)
    snare = 0.4 * rng.standard_normal(t.size) * np.exp(-t * 30) + 0.3 * np.sin(2 * np.pi * 180 * t) * np.exp(-t * 30)
    hat = 0.5 * np.diff(rng.standard_normal(t.size + 1)) * np.exp(-t * 18)
    period = 60.0 / bpm
    for i, b in enumerate(np.arange(0.5, dur - 0.3, period / 2)):
        s = int(b * sr)
        n = min(t.size, y.size - s)
        hit = hat if i % 2 else (kick if i % 4 == 0 else snare)
        y[s : s + n] += hit[:n].astype(np.float32)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def accelerating_clicks(start_bpm: float, end_bpm: float, *, dur: float = 100.0, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """1 kHz clicks from 0.5 s whose tempo moves linearly from ``start_bpm`` to ``end_bpm`` over
    ``dur`` seconds (a band drifting), and the click times (s)."""
    times = [0.5]
    while times[-1] < dur - 0.5:
        bpm = start_bpm + (end_bpm - start_bpm) * times[-1] / dur
        times.append(times[-1] + 60.0 / bpm)
    y = np.zeros(int(dur * sr), np.float32)
    t = np.arange(int(0.02 * sr)) / sr
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-t * 200)).astype(np.float32)
    for b in times[:-1]:
        s = int(b * sr)
        y[s : s + click.size] += click[: y.size - s]
    return y, np.asarray(times[:-1])


def blues(tonic: int, *, blue_notes: bool, beat_s: float = 0.5, sr: int = SR) -> np.ndarray:
    """A 12-bar blues in ``tonic`` major: dominant sevenths on I, IV and V (root doubled below), and
    with ``blue_notes`` a melody that leans on the key's minor third and flat seventh (a blues
    singer's or guitarist's line over major harmony: the key is still major)."""
    out = []
    for degree in (0, 0, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7):
        root = 45 + tonic + degree
        bar = sum(_tone(n, 4 * beat_s, sr) for n in (root - 12, root, root + 4, root + 7, root + 10))
        if blue_notes:
            line = np.concatenate([_tone(57 + 12 + tonic + step, beat_s, sr) for step in (3, 0, 10, 7)])
            bar = bar + 0.8 * line[: bar.size]
        out.append(bar)
    y = np.concatenate(out)
    return (0.2 * y / np.abs(y).max()).astype(np.float32)
