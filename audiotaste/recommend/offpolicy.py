"""Judging shelf policies offline: full plays, and inverse-propensity estimates from logged slots.

Every slot a :class:`~audiotaste.recommend.explore.Discovery` playlist serves is logged with the
probability that its shelf was drawn (its ``propensity``) and the probability of every other shelf
(``p.<arm>``), which makes inverse-propensity (IPS) and self-normalised IPS estimates of another
shelf policy's full-play rate possible from the logs alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from audiotaste.recommend.bandit import ARMS

#: A play of at least this share of the track counts as a full play.
FULL_FRACTION = 0.9


def full_plays(events: pd.DataFrame, duration_s: np.ndarray | None = None) -> np.ndarray:
    """Whether each event is a full play (bool array).

    At least :data:`FULL_FRACTION` of the track's duration when it is known; otherwise
    ``reason_end == "trackdone"``, else ``skipped`` false, else two minutes or more.
    """
    ms = pd.to_numeric(events["ms_played"], errors="coerce").fillna(0).to_numpy(float)
    dur = np.full(len(ms), np.nan) if duration_s is None else np.asarray(duration_s, float)
    if "reason_end" in events:
        fallback = events["reason_end"].astype(str).eq("trackdone").to_numpy()
    elif "skipped" in events:
        fallback = ~events["skipped"].fillna(False).astype(bool).to_numpy()
    else:
        fallback = ms >= 120_000
    with np.errstate(invalid="ignore"):
        by_length = ms >= FULL_FRACTION * dur * 1000.0
    return np.where(np.isfinite(dur) & (dur > 0), by_length, fallback)


def off_policy_estimate(
    log: pd.DataFrame,
    target: Mapping[str, float] | Callable[[pd.DataFrame], np.ndarray],
) -> dict[str, float]:
    """IPS and self-normalised IPS estimates of a shelf policy's full-play rate from logged slots.

    Parameters
    ----------
    log
        :attr:`Discovery.log_` (rows with a known ``reward``): ``arm``, ``propensity``, ``reward``
        and the logging probability of every arm as ``p.<arm>`` (0 where the arm had no track).
    target
        The policy to judge: a fixed shelf mix ``{arm: weight}`` (renormalised over the arms each
        slot had), or a function of the log returning the target's probability of each row's arm.

    Returns
    -------
    dict
        ``ips``, ``snips``, ``logged`` (the logging policy's own full-play rate), ``n`` (slots) and
        ``ess`` (effective sample size of the importance weights).
    """
    rows = log[log["reward"].notna()] if "reward" in log else log.iloc[:0]
    if rows.empty:
        nan = float("nan")
        return {"ips": nan, "snips": nan, "logged": nan, "n": 0, "ess": 0.0}
    if callable(target):
        p_new = np.asarray(target(rows), float)
    else:
        cols = [f"p.{a}" for a in ARMS if f"p.{a}" in rows]
        avail = rows[cols].to_numpy(float) > 0
        w = np.array([float(target.get(c[2:], 0.0)) for c in cols])
        mass = (avail * w).sum(1)
        arm_col = rows["arm"].map({c[2:]: i for i, c in enumerate(cols)}).to_numpy()
        p_new = np.where(mass > 0, w[arm_col] / np.where(mass > 0, mass, 1), 0.0)
    weight = p_new / rows["propensity"].to_numpy(float)
    r = rows["reward"].to_numpy(float)
    return {
        "ips": float(np.mean(weight * r)),
        "snips": float((weight * r).sum() / max(weight.sum(), 1e-12)),
        "logged": float(r.mean()),
        "n": len(rows),
        "ess": float(weight.sum() ** 2 / max((weight**2).sum(), 1e-12)),
    }
