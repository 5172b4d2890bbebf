"""The result of an analysis: :class:`Analysis` (one recording) and :class:`ExtraTags` (extra taxonomies).

The one place the result schema lives: its fields, their units and what a missing measurement looks
like. Importing it loads neither torch nor the signal-processing stack, so the catalogue's writer and
the exporters start fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DESCRIPTOR_FIELDS", "Analysis", "ExtraTags"]

#: Descriptor fields, in the order they appear in ``to_dict()`` and as catalogue columns.
DESCRIPTOR_FIELDS = (
    "duration_s",
    "sample_rate",
    "channels",
    "tempo_bpm",
    "tempo_confidence",
    "time_signature",
    "key",
    "key_name",
    "mode",
    "key_confidence",
    "loudness_lufs",
    "loudness_range_lu",
    "energy",
    "danceability",
    "brightness",
    "onset_rate",
    "dynamic_complexity",
    "notes",
)


@dataclass(frozen=True)
class Analysis:
    """Everything ``analyze`` measured about one recording.

    Attributes
    ----------
    path : str or None
        Source file (``None`` for an in-memory array).
    duration_s : float
        Duration in seconds.
    sample_rate : int
        Sample rate of the source, Hz.
    channels : int
        Channels of the source.
    tempo_bpm : float or None
        Tapped-beat tempo, BPM (quarter note in simple meters, dotted quarter in 6/8 and 12/8);
        ``None`` when there is no tempo to measure (too short, silent, no pulse: ``notes`` says why).
    tempo_confidence : float
        0-1, how clearly one tempo dominates (0 without a tempo).
    beat_times : tuple of float
        Beat positions, seconds.
    time_signature : int or None
        Beats per bar (3 or 4); ``None`` without a tempo.
    key : int or None
        Tonic pitch class, 0-11 with C = 0; ``None`` when there is no key (too short, silent, noise,
        percussion, speech: ``notes`` says why).
    key_name : str or None
        Tonic spelled with sharps (``"F#"``); ``None`` with ``key``.
    mode : int or None
        1 major, 0 minor; ``None`` with ``key``.
    key_confidence : float
        0-1 confidence of the key estimate (0 without a key).
    loudness_lufs : float
        Integrated loudness per ITU-R BS.1770-4, LUFS (``-inf`` for digital silence).
    loudness_range_lu : float
        Spread of short-term loudness (EBU R128 LRA-style, 10th to 95th percentile), LU.
    energy : float
        0-1 perceived intensity (see ``features.descriptors.energy``).
    danceability : float
        0-1 beat strength and regularity (see ``features.descriptors.danceability``).
    brightness : float
        0-1 spectral centroid on a log-frequency scale.
    onset_rate : float
        Onsets per second.
    dynamic_complexity : float
        Mean absolute deviation of short-term loudness from the integrated value, LU.
    tags : mapping
        ``{"genre": {"rock": 0.91, ...}, "mood": {...}}``; empty when no tagger was used. With
        ``extra_models`` also the real-world tags, ``{"tag": {"rock": 0.12, "chillout": 0.61, ...}}``
        (musicnn's 50 tags; catalogue columns ``tag.<name>``).
    embedding : tuple of float
        The main tagger's embedding (empty when no tagger was used).
    model : str or None
        Name and version of the main tagger (the one given by ``model``).
    timings : mapping
        Seconds spent per stage (``decode``, ``features``, ``tags``, ``extra_tags``...).
    tag_models : mapping
        ``{taxonomy: "name@version"}``: which model produced each taxonomy of ``tags``.
    notes : str or None
        Why a value is missing, ``"; "``-joined (``"tempo: silent; key: silent"``);
        ``None`` when everything was measured. A silent recording (under
        ``analysis.run.SILENT_LUFS``) gets no tags, and a note says so.
    """

    path: str | None
    duration_s: float
    sample_rate: int
    channels: int
    tempo_bpm: float | None
    tempo_confidence: float
    beat_times: tuple[float, ...]
    time_signature: int | None
    key: int | None
    key_name: str | None
    mode: int | None
    key_confidence: float
    loudness_lufs: float
    loudness_range_lu: float
    energy: float
    danceability: float
    brightness: float
    onset_rate: float
    dynamic_complexity: float
    tags: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    embedding: tuple[float, ...] = ()
    model: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    tag_models: Mapping[str, str] = field(default_factory=dict)
    notes: str | None = None

    def descriptors(self) -> dict[str, Any]:
        """The scalar descriptors, named as the catalogue's track columns."""
        return {name: getattr(self, name) for name in DESCRIPTOR_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict: descriptors flat, tags nested under ``"tags"``.

        Non-finite floats (the loudness of digital silence) become ``None`` so that the result is
        strict JSON; so are values that could not be measured, and ``notes`` says why.
        """
        out: dict[str, Any] = {"path": self.path}
        out.update({k: _json_float(v) for k, v in self.descriptors().items()})
        out["beat_times"] = [round(t, 4) for t in self.beat_times]
        out["tags"] = {tax: {k: float(v) for k, v in probs.items()} for tax, probs in self.tags.items()}
        out["embedding"] = [float(x) for x in self.embedding]
        out["model"] = self.model
        out["tag_models"] = dict(self.tag_models)
        out["timings"] = {k: float(v) for k, v in self.timings.items()}
        return out

    def to_spotify(self) -> dict[str, Any]:
        """The Spotify Web API "audio features" names and codes, for users leaving that API.

        Only fields with an honest signal-level counterpart are filled; ``key`` is -1 when no key
        was detected, as in Spotify's API, and then ``mode`` is ``None``; ``tempo`` and
        ``time_signature`` are ``None`` without a tempo (never an invented number). Spotify's ``valence``, ``acousticness``,
        ``instrumentalness``, ``liveness`` and ``speechiness`` are omitted, not invented.
        """
        return {
            "danceability": round(self.danceability, 3),
            "energy": round(self.energy, 3),
            "key": -1 if self.key is None else self.key,
            "loudness": _json_float(round(self.loudness_lufs, 3)),
            "mode": self.mode,
            "tempo": None if self.tempo_bpm is None else round(self.tempo_bpm, 3),
            "time_signature": self.time_signature,
            "duration_ms": int(round(self.duration_s * 1000)),
            "type": "audio_features",
        }


def _json_float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class ExtraTags:
    """What :func:`extra_tags` measured: the extra models' taxonomies of one recording.

    Attributes
    ----------
    tags : mapping
        ``{taxonomy: {label: probability}}``, e.g. ``{"tag": {"rock": 0.12, ...}}``.
    tag_models : mapping
        ``{taxonomy: "name@version"}``.
    timings : mapping
        Seconds: ``decode`` and ``extra_tags``.
    """

    tags: Mapping[str, Mapping[str, float]]
    tag_models: Mapping[str, str]
    timings: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"tags": {tax: {k: float(v) for k, v in probs.items()} for tax, probs in self.tags.items()},
                "tag_models": dict(self.tag_models),
                "timings": {k: float(v) for k, v in self.timings.items()}}


