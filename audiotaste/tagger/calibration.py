"""Temperature scaling per taxonomy head, and the calibration error it is judged by."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_temperature", "expected_calibration_error", "reliability_bins", "sigmoid"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def _bce(logits: np.ndarray, targets: np.ndarray) -> float:
    # log(1 + e^x) - y x, stable for large |x|
    return float(np.mean(np.logaddexp(0.0, logits) - targets * logits))


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """Temperature ``T`` minimising the binary cross-entropy of ``sigmoid(logits / T)``.

    A golden-section search over ``log T`` in [-3, 3]: one scalar, convex enough in practice, and
    deterministic.

    Parameters
    ----------
    logits : np.ndarray [n_items, n_labels]
        Track-level logits of one head on the validation set.
    targets : np.ndarray [n_items, n_labels]
        0/1 labels.

    Returns
    -------
    float
        The temperature (> 0); 1.0 when there is nothing to fit.
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if logits.size == 0:
        return 1.0
    lo, hi = -3.0, 3.0
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = _bce(logits / np.exp(a), targets), _bce(logits / np.exp(b), targets)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = _bce(logits / np.exp(a), targets)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = _bce(logits / np.exp(b), targets)
    return float(np.exp((lo + hi) / 2.0))


def reliability_bins(probs: np.ndarray, targets: np.ndarray, *, n_bins: int = 10) -> dict[str, list]:
    """What a reliability diagram draws: per equal-width probability bin, how many predictions fell
    in it, their mean, and how often the label was true.

    Parameters
    ----------
    probs, targets : np.ndarray
        Probabilities and 0/1 labels, any matching shape (flattened).
    n_bins : int, keyword-only

    Returns
    -------
    dict
        ``edges`` [n_bins + 1]; ``count``, ``mean_predicted`` and ``observed`` [n_bins] (``None``
        for an empty bin).
    """
    p = np.asarray(probs, dtype=np.float64).ravel()
    y = np.asarray(targets, dtype=np.float64).ravel()
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    sum_p = np.bincount(bins, p, n_bins)
    sum_y = np.bincount(bins, y, n_bins)
    return {
        "edges": [round(i / n_bins, 6) for i in range(n_bins + 1)],
        "count": count.tolist(),
        "mean_predicted": [float(a / c) if c else None for a, c in zip(sum_p, count, strict=True)],
        "observed": [float(a / c) if c else None for a, c in zip(sum_y, count, strict=True)],
    }


def expected_calibration_error(
    probs: np.ndarray, targets: np.ndarray, *, n_bins: int = 15
) -> float:
    """Expected calibration error over every (item, label) probability of a multi-label head.

    Probabilities are put in ``n_bins`` equal-width bins; ECE is the mean over all probabilities of
    ``|mean predicted - observed frequency|`` of their bin (:func:`reliability_bins`).

    Parameters
    ----------
    probs, targets : np.ndarray [n_items, n_labels]

    Returns
    -------
    float
        In [0, 1]; NaN for empty input.
    """
    if np.asarray(probs).size == 0:
        return float("nan")
    r = reliability_bins(probs, targets, n_bins=n_bins)
    gaps = [
        c * abs(m - o)
        for c, m, o in zip(r["count"], r["mean_predicted"], r["observed"], strict=True)
        if c
    ]
    return float(sum(gaps) / sum(r["count"]))
