"""Beats: where in a recording the tapped beat falls, given its tempo (used by ``rhythm``).

The beat strength of a frame is the sum of four onset novelties (``beat_strength``); a constant grid
is fitted to it (period and phase, ``_fit_grid``), then the beats follow the onsets from that grid,
steadily or drifting (``track_beats``). Chosen on the real dev charts (docs/BENCHMARKS.md, issue 17).
"""

from __future__ import annotations

import numpy as np

from audiotaste.features.tempogram import _novelty

#: Onset rows of ``tempogram.tempo_inputs`` the beat grid is placed on: the lowest band (kick, bass),
#: the middle band (snare, strums), the rise of the total level (the loud accents a listener taps
#: to) and the harmonic change (chord changes, where drumless music marks its beats). On the real
#: dev charts the whole-spectrum flux alone put the grid on the off-beat in 12 of 66 songs; these
#: four (chosen on the fit half of the dev charts, see docs/BENCHMARKS.md) in 5.
BEAT_ROWS = (0, 2, 5, 6)
#: How far (share of the period) the beat grid's period is searched around the tempo's.
_GRID_SPAN = 0.04
#: Beats follow the music two ways, and the beats that sit on more beat strength win. *Steady*: each
#: beat moves 10 % of the way to the strongest onset within 10 % of a period of the grid (a full snap
#: lost 0.03 of beat F-measure on the charts). *Drifting*: a phase-locked loop that also bends the
#: period (by 2 % of each beat's error, within 10 % of the grid's), for a live band that speeds up;
#: the steady beats kept only 17 % of the beats of a click speeding up 10 % over 100 s.
_STEADY = (0.1, 0.0, 0.1)  # (phase gain, period gain, window in periods)
_DRIFTING = (0.2, 0.02, 0.15)


def beat_strength(bands: np.ndarray, fps: float) -> np.ndarray:
    """How much each frame sounds like a beat: the sum of the ``BEAT_ROWS`` onset novelties.

    Parameters
    ----------
    bands : np.ndarray [7, n_frames]
        ``tempogram.tempo_inputs``' onset bands and harmonic change.
    fps : float
        Frames per second.

    Returns
    -------
    np.ndarray [n_frames], float64
    """
    return np.sum([_novelty(bands[r], fps) for r in BEAT_ROWS if r < bands.shape[0]], axis=0)


def _grid_score(strength: np.ndarray, period: float, phases: np.ndarray) -> np.ndarray:
    """Mean strength (linearly interpolated) on the grids ``centre + phase + k * period`` inside the
    signal, one per phase; the grids pivot on the centre frame, so that a small change of period
    moves both ends alike and the best phase stays near the same value."""
    n = strength.size
    centre = 0.5 * (n - 1)
    k = np.arange(-int(centre / period) - 1, int(centre / period) + 2)
    t = centre + phases[:, None] + k[None, :] * period
    inside = (t >= 0.0) & (t <= n - 1.001)
    values = _at(strength, t) * inside
    return values.sum(axis=1) / np.maximum(inside.sum(axis=1), 1)


def _fit_grid(strength: np.ndarray, period: float) -> tuple[float, float]:
    """The constant beat grid (period, first beat; frames) that the strength agrees with most.

    Coarse to fine: periods within ``_GRID_SPAN`` in 0.2 % steps and phases in half frames, then
    0.025 % and an eighth of a frame around the best. A period 0.25 % off (the tempo model's median
    error on the real charts) drifts half a beat over 200 beats: one fixed phase cannot follow it.
    """
    best = (-np.inf, period, 0.0)
    for d in np.linspace(-_GRID_SPAN, _GRID_SPAN, 41):
        p = period * (1.0 + d)
        phases = np.arange(0.0, p, 0.5)
        score = _grid_score(strength, p, phases)
        j = int(np.argmax(score))
        if score[j] > best[0]:
            best = (float(score[j]), p, float(phases[j]))
    _, p0, ph0 = best
    for d in np.linspace(-0.002, 0.002, 17):
        p = p0 * (1.0 + d)
        phases = ph0 + np.arange(-1.0, 1.0 + 1e-9, 0.125)
        score = _grid_score(strength, p, phases)
        j = int(np.argmax(score))
        if score[j] > best[0]:
            best = (float(score[j]), p, float(phases[j]))
    _, p, phase = best
    return p, (0.5 * (strength.size - 1) + phase) % p


def track_beats(strength: np.ndarray, period: float) -> tuple[np.ndarray, float]:
    """Beat positions and the grid's period.

    From the constant grid that best fits ``strength`` (``_fit_grid``), the steady or the drifting
    beats (``_STEADY``, ``_DRIFTING``), whichever sit on more beat strength.

    Parameters
    ----------
    strength : np.ndarray [n_frames]
        Beat strength (``beat_strength``).
    period : float
        Beat period to start from (the tempo's), frames; the grid's is searched within ``_GRID_SPAN``.

    Returns
    -------
    beats : np.ndarray [n_beats], float64
        Beat positions, fractional frames.
    period : float
        The grid's period, frames.
    """
    period, first = _fit_grid(strength, period)
    steady = _follow(strength, period, first, *_STEADY)
    drifting = _follow(strength, period, first, *_DRIFTING)
    return (drifting if _mean_at(strength, drifting) > _mean_at(strength, steady) else steady), period


def _follow(
    strength: np.ndarray, period: float, first: float, phase_gain: float, period_gain: float, window: float
) -> np.ndarray:
    """Beats from ``first`` at ``period`` (frames), each drawn ``phase_gain`` of the way to the
    strongest onset within ``window`` periods, the period bent by ``period_gain`` of that error."""
    n = strength.size
    half = max(1, int(round(window * period)))
    t, step, beats = first, period, []
    while t < n:
        c = int(round(t))
        lo, hi = max(0, c - half), min(n, c + half + 1)
        local = strength[lo:hi]
        if local.size and local.max() > 0:
            error = lo + int(np.argmax(local)) - t
            t += phase_gain * error
            step = float(np.clip(step + period_gain * error, 0.9 * period, 1.1 * period))
        beats.append(t)
        t += step
    return np.asarray(beats, dtype=np.float64)


def _mean_at(strength: np.ndarray, frames: np.ndarray) -> float:
    """Mean strength at (fractional) frames; 0 for none."""
    return float(_at(strength, frames).mean()) if frames.size else 0.0


def _at(strength: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Strength at fractional frames (any shape), linearly interpolated, clipped to the signal."""
    t = np.clip(frames, 0.0, strength.size - 1.001)
    i = t.astype(np.int64)
    frac = t - i
    return strength[i] * (1.0 - frac) + strength[i + 1] * frac
