"""The shelf bandit: Thompson sampling over discovery shelves with a discovery quota.

Each listener has a Beta posterior per shelf on its full-play rate (full plays are successes,
every other started track a failure), pooled towards the whole audience's rate for new listeners
and discounted at each update so a drifting taste is followed. A share of the slots is drawn
uniformly (``epsilon``), so every shelf keeps a logged propensity of at least
``epsilon / n_shelves`` (off-policy estimates need that support), and a share is reserved for the
listener's next genres (``discovery_share``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: Shelf kinds, the bandit's arms, in display order.
ARMS = ("for_you", "top_genre", "second_genre", "mood", "new", "outside")
SECOND = ARMS.index("second_genre")


def posterior(
    audience: np.ndarray, counts: np.ndarray | None, *, prior_strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Beta ``(alpha, beta)`` per arm: the audience's rate as ``prior_strength`` pseudo-plays, plus
    the listener's discounted ``counts`` ``[n_arms, 2]`` (full plays, other starts)."""
    rate = (audience[:, 0] + 1) / (audience.sum(1) + 2)
    a0 = 1 + prior_strength * rate
    b0 = 1 + prior_strength * (1 - rate)
    if counts is None:
        return a0, b0
    return a0 + counts[:, 0], b0 + counts[:, 1]


def slot_probabilities(
    a: np.ndarray,
    b: np.ndarray,
    available: np.ndarray,
    *,
    rng: np.random.Generator,
    epsilon: float,
    discovery_share: float,
    draws: int,
    mix: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Chance of each arm filling a slot: Thompson sampling (estimated from ``draws`` posterior
    samples) mixed with ``epsilon`` uniform and the ``discovery_share`` quota; a fixed ``mix``
    instead of the bandit when given. Arms not ``available`` get 0."""
    k = int(available.sum())
    if k == 0:
        return np.zeros(len(ARMS))
    if mix is not None:
        w = np.array([float(mix.get(arm, 0.0)) for arm in ARMS]) * available
        return w / w.sum() if w.sum() > 0 else available / k
    idx = np.flatnonzero(available)
    theta = rng.beta(a[idx], b[idx], size=(draws, k))
    ts = np.bincount(theta.argmax(1), minlength=k) / draws
    p = np.zeros(len(ARMS))
    quota = discovery_share if available[SECOND] and k > 1 else 0.0
    p[idx] = (1 - epsilon - quota) * ts + epsilon / k
    p[SECOND] += quota
    return p


def discounted_counts(
    counts: np.ndarray | None,
    arm: np.ndarray,
    reward: np.ndarray,
    started: np.ndarray,
    *,
    discount: float,
) -> np.ndarray:
    """A listener's counts after one round: old counts times ``discount``, plus the started slots
    (a full play, ``reward`` 1, a success; any other start a failure)."""
    c = (np.zeros((len(ARMS), 2)) if counts is None else counts) * discount
    s = np.asarray(started, bool)
    np.add.at(c[:, 0], arm[s], reward[s])
    np.add.at(c[:, 1], arm[s], 1 - reward[s])
    return c
