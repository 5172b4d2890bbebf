"""The discovery state file: JSON written atomically, read back with every defect named."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audiotaste._io import atomic_write_text
from audiotaste.errors import InputError
from audiotaste.recommend.bandit import ARMS
from audiotaste.recommend.impressions import ImpressionLog
from audiotaste.recommend.ranker import FEATURES

#: ``format`` and ``version`` of the JSON written by ``Discovery.save``.
STATE_FORMAT, STATE_VERSION = "audiotaste.discovery", 1


def header(arms: tuple[str, ...], features: tuple[str, ...]) -> dict[str, Any]:
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "arms": list(arms),
        "features": list(features),
    }


def check_header(doc: Any, arms: tuple[str, ...], features: tuple[str, ...]) -> None:
    """ValueError unless ``doc`` is a state of this version for these shelves and features."""
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
        raise ValueError("not an audiotaste discovery state")
    if doc.get("version") != STATE_VERSION:
        raise ValueError(f"version {doc.get('version')!r}, this audiotaste reads {STATE_VERSION}")
    if list(doc["arms"]) != list(arms) or list(doc["features"]) != list(features):
        raise ValueError("written for other shelves or re-ranker features")


def user_doc(
    counts: np.ndarray | None, week: int, recent: np.ndarray | None, shown: list[str]
) -> dict[str, Any]:
    return {
        "counts": None if counts is None else counts.tolist(),
        "week": week,
        "recent": None if recent is None else np.asarray(recent, float).tolist(),
        "shown": shown,
    }


def user_state(
    st: dict[str, Any], n_arms: int, width: int
) -> tuple[np.ndarray | None, int, np.ndarray | None, list[str]]:
    """``(counts, week, recent, shown track ids)`` of one listener; a ``recent`` vector of another
    width than the content space is dropped (the catalogue's columns changed)."""
    counts = None
    if st["counts"] is not None:
        counts = np.asarray(st["counts"], float)
        if counts.shape != (n_arms, 2) or not np.isfinite(counts).all() or (counts < 0).any():
            raise ValueError(f"counts are not {n_arms} x 2 non-negative")
    recent = st["recent"]
    recent = np.asarray(recent, float) if recent is not None and len(recent) == width else None
    return counts, int(st["week"]), recent, [str(t) for t in st["shown"]]


def coefficients(coef: Any, size: int) -> np.ndarray:
    out = np.asarray(coef, float)
    if out.shape != (size,) or not np.isfinite(out).all():
        raise ValueError("re-ranker coefficients of the wrong shape or not finite")
    return out


def write(path: str | os.PathLike[str], doc: dict[str, Any]) -> Path:
    path = Path(path)
    text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise InputError(path, f"cannot write the discovery state ({exc.strerror})") from None
    return path


def read(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "no such discovery state file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read the discovery state ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            path, f"corrupt discovery state: not JSON ({exc}); delete it to start afresh"
        ) from None


def corrupt(path: str | os.PathLike[str], exc: Exception) -> InputError:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    return InputError(
        Path(path),
        f"corrupt discovery state ({type(exc).__name__}: {msg}); delete it to start afresh",
    )


def save_state(disc: Any, path: str | os.PathLike[str], params: tuple[str, ...]) -> Path:
    """Write a ``Discovery``'s state (its constructor ``params``, beliefs, log, re-ranker)."""
    ids = disc.rec.track_ids_
    users = {
        user: user_doc(
            disc.counts_.get(user),
            disc._week.get(user, 0),
            disc._recent.get(user),
            [str(ids[i]) for i in sorted(disc._shown.get(user, ())) if 0 <= i < len(ids)],
        )
        for user in sorted(set(disc.counts_) | set(disc._week) | set(disc._shown))
    }
    doc = header(ARMS, FEATURES) | {
        "params": {k: getattr(disc, k) for k in params},
        "round": disc._round,
        "coef": None if disc.coef_ is None else disc.coef_.tolist(),
        "rng": disc._rng.bit_generator.state,
        "users": users,
        "log": disc._impressions.to_columns(),
    }
    return write(path, doc)


def load_state(
    cls: Any,
    path: str | os.PathLike[str],
    rec: Any,
    tracks: pd.DataFrame | None,
    params: tuple[str, ...],
) -> Any:
    """A ``cls`` (Discovery) over ``rec`` with the state :func:`save` wrote; InputError naming
    the defect otherwise."""
    doc = read(path)
    try:
        check_header(doc, ARMS, FEATURES)
        kwargs = dict(doc["params"])
        unknown = set(kwargs) - set(params)
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}")
        size = kwargs.pop("size")
        disc: Any = cls(rec, size, tracks=tracks, **kwargs)
        disc._round = int(doc["round"])
        if doc["coef"] is not None:
            disc.coef_ = coefficients(doc["coef"], len(FEATURES) + 1)
        disc._rng.bit_generator.state = doc["rng"]
        index = disc._tracks_index()
        for user, st in dict(doc["users"]).items():
            counts, week, recent, shown = user_state(st, len(ARMS), rec.X_.shape[1])
            if counts is not None:
                disc.counts_[str(user)] = counts
            disc._week[str(user)] = week
            if recent is not None:
                disc._recent[str(user)] = recent
            pos = index.get_indexer(shown)
            disc._shown[str(user)] = set(pos[pos >= 0].tolist())
        disc._audience = sum(disc.counts_.values(), np.zeros((len(ARMS), 2)))
        disc._impressions = ImpressionLog.from_columns(dict(doc["log"]), ARMS)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        raise corrupt(path, exc) from None
    return disc
