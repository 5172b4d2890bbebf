"""Scorers of the real bench: pure functions on plain numbers, the conventions of MIREX and mir_eval.

- tempo: :func:`tempo_accuracy` (Acc1 ±4 %; Acc2 also at ×2, ×½, ×3, ×⅓ of the reference);
- beats: :func:`beat_f_measure` (±70 ms, beats before 5 s ignored, one-to-one matching) on a grid from
  :func:`beat_grid`;
- key: :func:`parse_key` and :func:`key_score` (MIREX weighted: 1 same, 0.5 fifth, 0.3 relative,
  0.2 parallel);
- tags: :func:`roc_auc` (None where a class has one kind of label only) and
  :func:`expected_calibration_error` (equal-width bins).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

ACC2_FACTORS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
PITCH_CLASSES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def tempo_accuracy(estimate: float | None, reference: float, *, tolerance: float = 0.04) -> tuple[bool, bool]:
    """Acc1 and Acc2 of one tempo estimate.

    Parameters
    ----------
    estimate : float or None
        Estimated tempo, BPM. None (no tempo given) scores as wrong.
    reference : float
        Reference tempo, BPM (> 0).
    tolerance : float, keyword-only
        Relative tolerance, 0.04 = ±4 % of the (scaled) reference.

    Returns
    -------
    (acc1, acc2) : tuple of bool
        Acc1: within the tolerance of the reference; Acc2: within it of the reference times 1, 2, ½, 3 or ⅓.
    """
    if estimate is None or not math.isfinite(estimate) or estimate <= 0:
        return False, False
    hits = [abs(estimate - f * reference) <= tolerance * f * reference for f in ACC2_FACTORS]
    return hits[0], any(hits)


def beat_grid(first_beat_s: float, tempo_bpm: float, duration_s: float) -> np.ndarray:
    """Beat times, s, of a constant-tempo chart: ``first_beat_s + k·60/tempo_bpm`` inside [0, duration_s).

    The grid runs backwards from the first charted beat too (a chart's offset is often its first
    downbeat, with pick-up beats before it).
    """
    period = 60.0 / tempo_bpm
    k_min = math.ceil(-first_beat_s / period - 1e-9)
    k_max = math.ceil((duration_s - first_beat_s) / period - 1e-9) - 1
    return first_beat_s + period * np.arange(k_min, k_max + 1)


def beat_f_measure(
    reference: Sequence[float] | np.ndarray,
    estimate: Sequence[float] | np.ndarray,
    *,
    window_s: float = 0.07,
    skip_s: float = 5.0,
) -> float:
    """F-measure of estimated beats against reference beats (mir_eval.beat.f_measure conventions).

    Beats before ``skip_s`` seconds are dropped from both lists; each reference beat matches at most one
    estimated beat within ±``window_s`` seconds (maximum matching). Empty lists after trimming score 0.
    """
    ref = np.asarray(reference, dtype=float)
    est = np.asarray(estimate, dtype=float)
    ref, est = ref[ref >= skip_s], est[est >= skip_s]
    if len(ref) == 0 or len(est) == 0:
        return 0.0
    close = np.abs(ref[:, None] - est[None, :]) <= window_s + 1e-9
    matched = int((maximum_bipartite_matching(csr_matrix(close), perm_type="column") >= 0).sum())
    if matched == 0:
        return 0.0
    precision, recall = matched / len(est), matched / len(ref)
    return 2 * precision * recall / (precision + recall)


def parse_key(text: str | None, mode: str | int | None = None) -> tuple[int, str] | None:
    """``"F# minor"``, ``"Bb major"``, ``"C:maj"``, ``"a"`` (lower case = minor) or a pitch class 0-11
    with ``mode`` (``"major"``/``"minor"``, 1/0) -> ``(pitch_class, "major" | "minor")``; None when empty."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or str(text).strip() == "":
        return None
    raw = str(text).strip()
    if re.fullmatch(r"\d+(\.0)?", raw):
        tonic = int(float(raw)) % 12
        name_mode = None
    else:
        match = re.fullmatch(r"([A-Ga-g])([#♯b♭]*)\s*[:\s]?\s*([A-Za-z]*)", raw)
        if match is None:
            raise ValueError(f"unknown key label {text!r}")
        letter, accidentals, word = match.groups()
        tonic = (PITCH_CLASSES[letter.lower()] + accidentals.count("#") + accidentals.count("♯")
                 - accidentals.count("b") - accidentals.count("♭")) % 12
        name_mode = _mode(word) if word else ("minor" if letter.islower() and mode is None else None)
    resolved = name_mode or (_mode(mode) if mode is not None and str(mode) != "" else None)
    if resolved is None:
        raise ValueError(f"key {text!r} has no mode")
    return tonic, resolved


def _mode(value: str | int) -> str:
    word = str(value).strip().lower()
    if word in ("major", "maj", "1", "1.0", "ionian"):
        return "major"
    if word in ("minor", "min", "m", "0", "0.0", "aeolian"):
        return "minor"
    raise ValueError(f"unknown mode {value!r}")


def key_name(key: tuple[int, str]) -> str:
    return f"{NAMES[key[0]]} {key[1]}"


def key_score(estimate: tuple[int, str] | None, reference: tuple[int, str]) -> float:
    """MIREX weighted key score (as mir_eval.key.weighted_score).

    1.0 same key; 0.5 the estimate a perfect fifth above the reference, same mode; 0.3 relative
    (major estimate 3 semitones above a minor reference, or minor estimate 3 below a major one);
    0.2 parallel (same tonic, other mode); else 0. No estimate scores 0.
    """
    if estimate is None:
        return 0.0
    (e_tonic, e_mode), (r_tonic, r_mode) = estimate, reference
    if estimate == reference:
        return 1.0
    if e_mode == r_mode and (e_tonic - r_tonic) % 12 == 7:
        return 0.5
    if e_mode == "major" and r_mode == "minor" and (e_tonic - r_tonic) % 12 == 3:
        return 0.3
    if e_mode == "minor" and r_mode == "major" and (r_tonic - e_tonic) % 12 == 3:
        return 0.3
    if e_tonic == r_tonic:
        return 0.2
    return 0.0


def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float | None:
    """ROC-AUC of scores against 0/1 labels (sklearn); None where only one kind of label is present."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, dtype=int)
    if y.min(initial=0) == y.max(initial=0) or len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, np.asarray(scores, dtype=float)))


def expected_calibration_error(
    labels: Sequence[int] | np.ndarray, probabilities: Sequence[float] | np.ndarray, *, n_bins: int = 15
) -> float:
    """ECE of binary probabilities: Σ_bins (n_b / N)·|mean label − mean probability| over ``n_bins``
    equal-width bins of [0, 1] (the last bin holds 1.0)."""
    y = np.asarray(labels, dtype=float)
    p = np.clip(np.asarray(probabilities, dtype=float), 0.0, 1.0)
    if len(y) == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        inside = bins == b
        total += inside.mean() * abs(y[inside].mean() - p[inside].mean())
    return float(total)


def times_real_time(audio_s: Sequence[float], cpu_s: Sequence[float]) -> float | None:
    """Median over files of audio seconds per processing second (None without files)."""
    ratios = [a / c for a, c in zip(audio_s, cpu_s, strict=True) if a and c and c > 0]
    return float(np.median(ratios)) if ratios else None
