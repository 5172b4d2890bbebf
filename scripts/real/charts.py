"""Rhythm-game charts as tempo labels: StepMania ``.sm``/``.ssc``, Taiko ``.tja``, osu! ``.osu``,
Guitar Hero / Clone Hero ``.chart`` and Friday Night Funkin' ``.json``.

A chart's timing was set by a person playing along to the very recording it ships with, so a chart
with ONE tempo gives a human-checked tempo (at the chart's own beat level), a first-beat time and,
for some formats, a meter. ``parse_chart`` reads the timing of any of the six formats into a
:class:`Chart`; ``constant_tempo`` keeps a chart only when its grid is one constant tempo that
starts at or after the audio's start, and otherwise says why not (:class:`ChartSkip`).

Sign conventions (why they matter: a wrong sign moves every beat):
- StepMania ``#OFFSET`` and TJA ``OFFSET:`` are the NEGATED time of beat 0 (``#OFFSET:-0.25`` puts
  beat 0 at 0.25 s into the audio).
- osu! timing points give the time of their first beat directly, in milliseconds.
- ``.chart`` ``Offset`` is a legacy field (nearly always 0) whose sign the format descriptions leave
  open ("seconds before tick 0 is reached") and the one clip that could tell contradicted the
  reading beat 0 = ``+Offset`` (grid check: 0.94 on/off against 1.73 for the opposite sign), so a
  ``.chart`` with a non-zero ``Offset`` is skipped (``chart_offset_sign_unknown``), never guessed.
- Friday Night Funkin' charts have no offset: the game starts the instrumental (``Inst.ogg``) with
  the chart's clock, so beat 0 is at 0 s (a chart with a non-zero ``offset`` field is skipped).
"""

from __future__ import annotations

import math
import re

from real.chart_formats import parse_ch_chart, parse_fnf
from real.chart_model import Chart, ChartError, ChartSkip, ConstantTempo, TempoSection, number

__all__ = [
    "CHART_SUFFIXES",
    "FNF_SUFFIX",
    "OFFSET_UNKNOWN",
    "Chart",
    "ChartError",
    "ChartSkip",
    "ConstantTempo",
    "TempoSection",
    "constant_tempo",
    "parse_ch_chart",
    "parse_fnf",
    "decode_chart",
    "parse_chart",
]

CHART_SUFFIXES = (".sm", ".ssc", ".tja", ".osu", ".chart")
#: Friday Night Funkin' charts are ``.json`` files, a suffix too common to read as a chart unless a
#: source asks for it (its ``include`` names ``*.json``; ``sources.build_charts``).
FNF_SUFFIX = ".json"
#: Two tempos closer than this (relative) are one tempo written twice (editors' float noise).
BPM_NOISE = 1e-4
#: osu! re-states the same tempo at a new timing point; a re-stated grid that moved by more than
#: this (seconds) is a new section, not noise.
GRID_NOISE_S = 0.005
#: Skip reasons, as counted by the manifest builder.
TEMPO_CHANGES = "chart_tempo_changes"
STOPS = "chart_stops_or_delays"
OUT_OF_RANGE = "chart_tempo_out_of_range"
OFFSET_UNKNOWN = "chart_offset_sign_unknown"
#: A constant chart tempo outside this range (BPM) is a gimmick (a 2000-BPM sound-effect chart),
#: not the beat of music.
TEMPO_RANGE = (30.0, 400.0)


def decode_chart(data: bytes) -> str:
    """Chart bytes to text: UTF-8 (with or without BOM), else Shift-JIS (most TJA), else Latin-1."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


# ---------------------------------------------------------------- StepMania .sm / .ssc
def _sm_tags(text: str) -> list[tuple[str, str]]:
    """``#KEY:value;`` pairs in order. StepMania also ends a value at a line starting with ``#``
    (files with a missing ``;`` load in the game), so do we."""
    tags = []
    for match in re.finditer(r"#([A-Za-z0-9_]+)\s*:(.*?)(?:;|(?=\n\s*#)|\Z)", text, re.DOTALL):
        tags.append((match.group(1).upper(), match.group(2).strip()))
    return tags


def _sm_pairs(value: str, what: str) -> list[list[float]]:
    """``0.000=120.000,64.000=140.000`` (or ``beat=n=d`` for time signatures) to number lists."""
    rows = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        rows.append([number(part, what) for part in item.split("=")])
    return rows


def _sm_sections(value: str) -> tuple[TempoSection, ...]:
    rows = _sm_pairs(value, "#BPMS")
    if not rows or any(len(row) != 2 for row in rows):
        raise ChartError(f"#BPMS is not a list of beat=bpm: {value[:60]!r}")
    if any(
        bpm == 0 for _, bpm in rows
    ):  # negative tempos are warps (a gimmick), still a tempo change
        raise ChartError(f"#BPMS has a tempo of 0: {value[:60]!r}")
    rows.sort(key=lambda row: row[0])
    return tuple(TempoSection(bpm=bpm, start_beat=beat) for beat, bpm in rows)


def _sm_has_stops(values: list[str]) -> bool:
    for value in values:
        for row in _sm_pairs(value, "#STOPS"):
            if len(row) >= 2 and row[1] != 0:
                return True
    return False


def parse_sm(text: str, *, fmt: str = "sm") -> Chart:
    """Timing of a StepMania ``.sm`` or ``.ssc`` file (song-level tags; ``.ssc`` per-chart timing
    that differs from the song's is reported as extra tempo sections or stops)."""
    tags = _sm_tags(_strip_comments(text))
    song: dict[str, str] = {}
    per_chart: dict[str, list[str]] = {}
    in_chart = False
    for key, value in tags:
        if key == "NOTEDATA":
            in_chart = True
        elif in_chart:
            per_chart.setdefault(key, []).append(value)
        else:
            song.setdefault(key, value)
    if "BPMS" not in song:
        if "BPMS" not in per_chart:
            raise ChartError("no #BPMS tag")
        song["BPMS"] = per_chart["BPMS"][0]
    sections = _sm_sections(song["BPMS"])
    for value in per_chart.get("BPMS", []):
        if value and _sm_sections(value) != sections:
            sections = sections + _sm_sections(value)
    offset = number(song.get("OFFSET", "0") or "0", "#OFFSET")
    offsets = {offset} | {number(v, "#OFFSET") for v in per_chart.get("OFFSET", []) if v}
    stops = [song.get(k, "") for k in ("STOPS", "FREEZES", "DELAYS", "WARPS")]
    stops += [v for k in ("STOPS", "DELAYS", "WARPS") for v in per_chart.get(k, [])]
    has_stops = _sm_has_stops(stops) or len(offsets) > 1
    meter, meter_changes = "", False
    signatures = [song.get("TIMESIGNATURES", "")] + per_chart.get("TIMESIGNATURES", [])
    meters = set()
    for value in signatures:
        for row in _sm_pairs(value, "#TIMESIGNATURES"):
            if len(row) != 3 or row[1] <= 0 or row[2] <= 0:
                raise ChartError(f"#TIMESIGNATURES is not beat=n=d: {value[:60]!r}")
            meters.add(f"{int(row[1])}/{int(row[2])}")
    if meters:
        meter, meter_changes = sorted(meters)[0], len(meters) > 1
    return Chart(
        fmt=fmt,
        sections=sections,
        first_beat_s=-offset,
        meter=meter,
        meter_changes=meter_changes,
        has_stops=has_stops,
        title=song.get("TITLE", "") or song.get("TITLETRANSLIT", ""),
        artist=song.get("ARTIST", "") or song.get("ARTISTTRANSLIT", ""),
        music=song.get("MUSIC", ""),
    )


# ---------------------------------------------------------------- Taiko .tja
def parse_tja(text: str) -> Chart:
    """Timing of a Taiko ``.tja`` file: header ``BPM:``/``OFFSET:``, and inside every course
    ``#BPMCHANGE`` (a tempo section), ``#MEASURE n/d`` (meter) and ``#DELAY`` (a stop)."""
    header: dict[str, str] = {}
    bpm_changes: list[float] = []
    meters: set[str] = set()
    has_stops = False
    in_course = False
    for raw in _strip_comments(text).splitlines():
        line = raw.strip()
        if not line:
            continue
        upper = line.upper()
        if upper.startswith("#START"):
            in_course = True
        elif upper.startswith("#END"):
            in_course = False
        elif upper.startswith("#BPMCHANGE"):
            bpm_changes.append(number(line[len("#BPMCHANGE") :], "#BPMCHANGE"))
        elif upper.startswith("#MEASURE"):
            match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", line[len("#MEASURE") :])
            if not match or int(match.group(1)) <= 0 or int(match.group(2)) <= 0:
                raise ChartError(f"#MEASURE is not n/d: {line[:40]!r}")
            meters.add(f"{int(match.group(1))}/{int(match.group(2))}")
        elif upper.startswith("#DELAY"):
            has_stops = has_stops or number(line[len("#DELAY") :], "#DELAY") != 0
        elif not in_course and ":" in line and not line.startswith("#"):
            key, value = line.split(":", 1)
            header.setdefault(key.strip().upper(), value.strip())
    if "BPM" not in header:
        raise ChartError("no BPM: header")
    bpm = number(header["BPM"], "BPM:")
    if bpm <= 0 or any(change <= 0 for change in bpm_changes):
        raise ChartError("a tempo <= 0")
    offset = number(header.get("OFFSET", "0") or "0", "OFFSET:")
    sections = (TempoSection(bpm=bpm, start_beat=0.0),) + tuple(
        TempoSection(bpm=b) for b in bpm_changes
    )
    subtitle = header.get("SUBTITLE", "")
    artist = header.get("ARTIST", "") or re.sub(r"^(--|\+\+)", "", subtitle).strip()
    first_meter = "4/4" if not meters else sorted(meters)[0]
    return Chart(
        fmt="tja",
        sections=sections,
        first_beat_s=-offset,
        meter=first_meter if len(meters) <= 1 else "",
        meter_changes=len(meters | {"4/4"}) > 1 if meters else False,
        has_stops=has_stops,
        title=header.get("TITLE", ""),
        artist=artist,
        music=header.get("WAVE", ""),
    )


# ---------------------------------------------------------------- osu! .osu
def parse_osu(text: str) -> Chart:
    """Timing of an osu! ``.osu`` file: its uninherited ``[TimingPoints]`` (``time,ms_per_beat,
    meter,...``; inherited points, negative ms/beat or ``uninherited=0``, only change scroll speed)."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].strip().lower().startswith("osu file format"):
        raise ChartError("no 'osu file format' first line")
    section = ""
    values: dict[str, str] = {}
    points: list[tuple[float, float, int]] = []
    for raw in lines[1:]:
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section in ("General", "Metadata") and ":" in line:
            key, value = line.split(":", 1)
            values.setdefault(key.strip(), value.strip())
        elif section == "TimingPoints":
            fields = line.split(",")
            if len(fields) < 2:
                raise ChartError(f"timing point with fewer than 2 fields: {line[:40]!r}")
            time_ms = number(fields[0], "timing point time")
            beat_ms = number(fields[1], "timing point ms/beat")
            meter = (
                int(number(fields[2], "timing point meter"))
                if len(fields) > 2 and fields[2].strip()
                else 4
            )
            uninherited = fields[6].strip() != "0" if len(fields) > 6 else beat_ms > 0
            if uninherited:
                if beat_ms <= 0 or meter <= 0:
                    raise ChartError(
                        f"uninherited timing point with ms/beat or meter <= 0: {line[:40]!r}"
                    )
                points.append((time_ms / 1000.0, beat_ms, meter))
    if not points:
        raise ChartError("no uninherited timing point")
    points.sort()
    sections = tuple(TempoSection(bpm=60000.0 / beat_ms, start_s=t) for t, beat_ms, _ in points)
    meters = {f"{m}/4" for _, _, m in points}
    return Chart(
        fmt="osu",
        sections=sections,
        first_beat_s=points[0][0],
        meter=f"{points[0][2]}/4",
        meter_changes=len(meters) > 1,
        title=values.get("Title", "") or values.get("TitleUnicode", ""),
        artist=values.get("Artist", "") or values.get("ArtistUnicode", ""),
        music=values.get("AudioFilename", ""),
    )


def parse_chart(text: str, *, fmt: str) -> Chart:
    """Parse chart text of format ``fmt`` (``"sm"``, ``"ssc"``, ``"tja"``, ``"osu"``, ``"chart"`` or
    ``"json"`` (Friday Night Funkin'), a file suffix without its dot). Raises :class:`ChartError` for anything that is not such a
    chart."""
    fmt = fmt.lower().lstrip(".")
    if fmt == "chart":
        return parse_ch_chart(text)
    if fmt == "json":
        return parse_fnf(text)
    if fmt in ("sm", "ssc"):
        return parse_sm(text, fmt=fmt)
    if fmt == "tja":
        return parse_tja(text)
    if fmt == "osu":
        return parse_osu(text)
    raise ChartError(f"unknown chart format {fmt!r}")


def _same_bpm(a: float, b: float) -> bool:
    return abs(a - b) <= BPM_NOISE * max(a, b)


def constant_tempo(chart: Chart) -> ConstantTempo:
    """The chart's one tempo, first-beat time (s) and meter; raises :class:`ChartSkip` when its
    grid has several tempos (beyond float noise), stops/delays, or a tempo outside ``TEMPO_RANGE``. A beat 0 before the audio's start
    moves forward by whole beats to the first beat inside the audio (exact for one constant tempo)."""
    base = chart.sections[0]
    for section in chart.sections[1:]:
        if not _same_bpm(section.bpm, base.bpm):
            raise ChartSkip(TEMPO_CHANGES, f"{base.bpm:g} and {section.bpm:g} BPM")
        if section.start_s is not None and base.start_s is not None:
            period = 60.0 / base.bpm
            beats = (section.start_s - base.start_s) / period
            if abs(beats - round(beats)) * period > GRID_NOISE_S:
                raise ChartSkip(TEMPO_CHANGES, f"grid moves at {section.start_s:.3f} s")
    if base.bpm <= 0:
        raise ChartSkip(TEMPO_CHANGES, f"{base.bpm:g} BPM")
    if chart.has_stops:
        raise ChartSkip(STOPS)
    if chart.offset_unknown:
        raise ChartSkip(OFFSET_UNKNOWN, f"{chart.first_beat_s:g} s")
    if not TEMPO_RANGE[0] <= base.bpm <= TEMPO_RANGE[1]:
        raise ChartSkip(OUT_OF_RANGE, f"{base.bpm:g} BPM")
    first = chart.first_beat_s
    if first < 0:
        # Beat 0 before the audio starts (most often a song cut in its middle): with one constant
        # tempo the grid goes on into the audio, so the first beat is the first grid beat >= 0.
        period = 60.0 / base.bpm
        first += math.ceil(-first / period - 1e-9) * period
        first = max(first, 0.0)  # float rounding of a beat 0 a hair before the audio's start
    return ConstantTempo(
        bpm=base.bpm,
        first_beat_s=first + 0.0,  # + 0.0 turns -0.0 into 0.0
        meter="" if chart.meter_changes else chart.meter,
    )
