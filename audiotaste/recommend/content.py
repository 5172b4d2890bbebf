"""Content vectors from whatever content columns a tracks frame has.

Columns are grouped (``genre``, ``mood``, ``tag``, ``embedding``, ``tempo``, ``energy``...); each
column is standardised and each group scaled to the same expected weight, so a 128-wide embedding
does not drown four descriptors. Rows are L2-normalised, so a dot product is a cosine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audiotaste.errors import InputError

#: Scalar descriptors used as content, with the group they belong to.
DESCRIPTORS = {
    "tempo_bpm": "tempo",
    "energy": "energy",
    "danceability": "danceability",
    "loudness_lufs": "loudness",
    "brightness": "timbre",
    "onset_rate": "timbre",
    "dynamic_complexity": "timbre",
    "mode": "key",
    "key": "key",
}
PREFIXES = {"genre.": "genre", "mood.": "mood", "tag.": "tag", "emb_": "embedding"}


def content_columns(tracks: pd.DataFrame) -> dict[str, str]:
    """Map each usable content column of ``tracks`` to its group (numeric columns only)."""
    out: dict[str, str] = {}
    for col in tracks.columns:
        name = str(col)
        group = DESCRIPTORS.get(name) or next(
            (g for p, g in PREFIXES.items() if name.startswith(p)), None
        )
        if (
            group
            and pd.api.types.is_numeric_dtype(tracks[col])
            and not pd.api.types.is_bool_dtype(tracks[col])
        ):
            out[name] = group
    return out


@dataclass(frozen=True)
class ContentSpace:
    """A fitted mapping from track columns to unit-length content vectors.

    Attributes
    ----------
    columns : tuple of str
        Source columns; ``key`` expands to two circle-of-fifths coordinates.
    groups : tuple of str
        Group of each output dimension.
    mean, scale : numpy.ndarray
        Per-dimension standardisation, with the group weight folded into ``scale``.
    """

    columns: tuple[str, ...]
    groups: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, tracks: pd.DataFrame) -> ContentSpace:
        """Learn column statistics from ``tracks``; raises InputError when it has no content column."""
        return cls.fit_transform(tracks)[0]

    @classmethod
    def fit_transform(cls, tracks: pd.DataFrame) -> tuple[ContentSpace, np.ndarray]:
        """:meth:`fit` and :meth:`transform` of the same frame, reading its columns once (a
        million-track frame takes seconds to read)."""
        cols = content_columns(tracks)
        if not cols:
            raise InputError(
                None,
                "the tracks frame has no content columns (expected some of genre.*, mood.*, tag.*, "
                f"emb_*, {', '.join(DESCRIPTORS)}); found {list(tracks.columns)[:12]}",
            )
        raw, groups = _raw(tracks, tuple(cols))
        mean = np.nanmean(raw, axis=0) if len(raw) else np.zeros(raw.shape[1])
        std = np.nanstd(raw, axis=0) if len(raw) else np.ones(raw.shape[1])
        mean = np.nan_to_num(mean)
        std = np.where(np.isfinite(std) & (std > 1e-9), std, 1.0)
        size = pd.Series(groups).map(pd.Series(groups).value_counts()).to_numpy(float)
        space = cls(
            tuple(cols), groups, mean.astype(np.float32), (std * np.sqrt(size)).astype(np.float32)
        )
        return space, space._unit(raw)

    def transform(self, tracks: pd.DataFrame) -> np.ndarray:
        """Content vectors ``[n_tracks, n_dims]``, float32, unit length (zero rows stay zero)."""
        missing = [c for c in self.columns if c not in tracks.columns]
        if missing:
            raise InputError(None, f"the tracks frame lacks content column(s) {missing[:8]}")
        return self._unit(_raw(tracks, self.columns)[0])

    def _unit(self, raw: np.ndarray) -> np.ndarray:
        x = np.nan_to_num((raw - self.mean) / self.scale).astype(np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "groups": list(self.groups),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContentSpace:
        return cls(
            tuple(d["columns"]),
            tuple(d["groups"]),
            np.asarray(d["mean"], np.float32),
            np.asarray(d["scale"], np.float32),
        )


def _raw(tracks: pd.DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Numeric matrix with NaN for missing values; tempo on a log scale, key on the circle of fifths."""
    parts: list[np.ndarray] = []
    groups: list[str] = []
    for col in columns:
        v = pd.to_numeric(tracks[col], errors="coerce").to_numpy(np.float64)
        group = DESCRIPTORS.get(col) or next(g for p, g in PREFIXES.items() if col.startswith(p))
        if col == "tempo_bpm":
            # Octave errors (double / half time) are common: a log scale keeps them one step apart.
            v = np.log2(np.where(v > 0, v, np.nan))
        if col == "key":
            angle = np.where(v >= 0, v, np.nan) * 7 * 2 * np.pi / 12
            parts += [np.cos(angle), np.sin(angle)]
            groups += [group, group]
            continue
        parts.append(v)
        groups.append(group)
    return np.column_stack(parts) if parts else np.zeros((len(tracks), 0)), tuple(groups)
