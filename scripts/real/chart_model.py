"""The timing of a rhythm-game chart as ``real.charts`` and ``real.chart_formats`` parse it: the
classes every parser returns or raises, and the number reader they share."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Chart", "ChartError", "ChartSkip", "ConstantTempo", "TempoSection", "number"]


class ChartError(ValueError):
    """The text is not a chart of the given format (the one error the parsers raise)."""


class ChartSkip(Exception):
    """A well-formed chart that cannot label a constant-tempo clip; ``reason`` is the count key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class TempoSection:
    """One tempo of a chart: ``bpm`` from ``start_beat`` (beats after beat 0; None where the format
    places it by notes we do not count, e.g. TJA ``#BPMCHANGE``) or ``start_s`` (osu!, seconds)."""

    bpm: float
    start_beat: float | None = None
    start_s: float | None = None


@dataclass(frozen=True)
class Chart:
    """The timing of one chart file.

    ``first_beat_s`` is the time (s) of beat 0 in the audio; ``meter`` is ``"N/D"`` or ``""`` when
    the format does not say; ``has_stops`` marks stops/delays/warps (they shift every later beat);
    ``offset_unknown`` an offset whose sign convention is not known (``.chart`` ``Offset`` != 0).
    """

    fmt: str
    sections: tuple[TempoSection, ...]
    first_beat_s: float
    meter: str = ""
    meter_changes: bool = False
    has_stops: bool = False
    offset_unknown: bool = False
    title: str = ""
    artist: str = ""
    music: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConstantTempo:
    bpm: float
    first_beat_s: float
    meter: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def number(text: str, what: str) -> float:
    """``text`` as a finite float; ``ChartError`` naming ``what`` otherwise."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ChartError(f"{what} is not a number: {text.strip()[:40]!r}") from None
    if not math.isfinite(value):
        raise ChartError(f"{what} is not finite: {text.strip()[:40]!r}")
    return value
