"""Two chart formats that ``real.charts.parse_chart`` reads: Guitar Hero / Clone Hero ``.chart`` and
Friday Night Funkin' ``.json`` (their sign conventions are in ``real.charts``' docstring)."""

from __future__ import annotations

import json
import re

from real.chart_model import Chart, ChartError, TempoSection, number

__all__ = ["parse_ch_chart", "parse_fnf"]


# ---------------------------------------------------------------- Guitar Hero / Clone Hero .chart
def _ch_sections(text: str) -> dict[str, list[str]]:
    """``[Name]`` followed by a ``{ ... }`` block of lines, for every section (first one wins)."""
    sections: dict[str, list[str]] = {}
    name, body = "", None
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if body is None:
            if line.startswith("[") and line.endswith("]"):
                name = line[1:-1].strip()
            elif line == "{" and name:
                body = []
        elif line == "}":
            sections.setdefault(name, body)
            name, body = "", None
        elif line:
            body.append(line)
    return sections


def parse_ch_chart(text: str) -> Chart:
    """Timing of a Guitar Hero / Clone Hero ``.chart`` file: ``[Song]`` ``Resolution`` (ticks per
    beat), ``Offset`` (seconds before tick 0) and ``MusicStream``; ``[SyncTrack]`` ``tick = B
    bpm*1000`` tempo markers and ``tick = TS n [log2 d]`` time signatures (``A`` anchors only pin
    a marker in an editor and are ignored)."""
    sections = _ch_sections(text)
    if "Song" not in sections or "SyncTrack" not in sections:
        raise ChartError("no [Song] and [SyncTrack] sections")
    song: dict[str, str] = {}
    for line in sections["Song"]:
        if "=" in line:
            key, value = line.split("=", 1)
            song.setdefault(key.strip(), value.strip().strip('"').strip())
    resolution = number(song.get("Resolution", "192") or "192", "Resolution")
    if resolution <= 0:
        raise ChartError(f"Resolution <= 0: {resolution:g}")
    tempos: list[tuple[float, float]] = []
    meters: set[str] = set()
    for line in sections["SyncTrack"]:
        match = re.fullmatch(r"(\d+)\s*=\s*(B|TS|A)\s+(.*)", line)
        if not match:
            raise ChartError(f"[SyncTrack] line is not 'tick = B|TS|A value': {line[:40]!r}")
        tick, kind, values = int(match.group(1)), match.group(2), match.group(3).split()
        if kind == "B":
            bpm = number(values[0] if values else "", "B") / 1000.0
            if bpm <= 0:
                raise ChartError(f"a tempo <= 0: {line[:40]!r}")
            tempos.append((tick / resolution, bpm))
        elif kind == "TS":
            numerator = int(number(values[0] if values else "", "TS"))
            log_denominator = int(number(values[1], "TS")) if len(values) > 1 else 2
            if numerator <= 0 or not 0 <= log_denominator <= 6:
                raise ChartError(f"TS is not n [log2 d]: {line[:40]!r}")
            meters.add(f"{numerator}/{2**log_denominator}")
    if not tempos:
        raise ChartError("no B tempo marker")
    tempos.sort()
    if tempos[0][0] != 0:
        raise ChartError(f"the first tempo marker is not at tick 0 but at beat {tempos[0][0]:g}")
    offset = number(song.get("Offset", "0") or "0", "Offset")
    return Chart(
        fmt="chart",
        sections=tuple(TempoSection(bpm=bpm, start_beat=beat) for beat, bpm in tempos),
        first_beat_s=0.0 if offset == 0 else offset,
        offset_unknown=offset != 0,
        meter=sorted(meters)[0] if meters else "4/4",
        meter_changes=len(meters) > 1,
        title=song.get("Name", ""),
        artist=song.get("Artist", ""),
        music=song.get("MusicStream", "") or "song.ogg",
    )


# ---------------------------------------------------------------- Friday Night Funkin' .json
def parse_fnf(text: str) -> Chart:
    """Timing of a Friday Night Funkin' chart (the base game's, Kade's and Psych Engine's format):
    ``{"song": {"song": title, "bpm": tempo, "notes": [sections]}}`` where a section with
    ``"changeBPM": true`` sets a new tempo at its start. Beat 0 is at 0 s of the instrumental; there
    is no meter (a section is the editor's 16-step page, not a bar) and no artist unless the chart
    names one (``"artist"``, some engines)."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ChartError(f"not JSON: {str(error)[:60]}") from None
    song = data.get("song") if isinstance(data, dict) else None
    if not isinstance(song, dict):
        song = data  # some engines write the song object at the top level
    if not isinstance(song, dict) or "bpm" not in song or not isinstance(song.get("notes"), list):
        raise ChartError("not a Friday Night Funkin' chart (no song.bpm and song.notes)")

    def tempo(value: object, what: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ChartError(f"{what} is not a number: {str(value)[:40]!r}")
        bpm = number(str(value), what)
        if bpm <= 0:
            raise ChartError(f"{what} <= 0: {bpm:g}")
        return bpm

    sections = [TempoSection(bpm=tempo(song["bpm"], "song.bpm"), start_beat=0.0)]
    for section in song["notes"]:
        if isinstance(section, dict) and section.get("changeBPM") is True:
            sections.append(TempoSection(bpm=tempo(section.get("bpm"), "section bpm")))
    offset = song.get("offset", 0)
    if isinstance(offset, bool) or not isinstance(offset, (int, float, str, type(None))):
        raise ChartError(f"offset is not a number: {str(offset)[:40]!r}")
    offset_value = number(str(offset), "offset") if offset not in (None, "") else 0.0
    title, artist = song.get("song", ""), song.get("artist", "")
    return Chart(
        fmt="json",
        sections=tuple(sections),
        first_beat_s=0.0,
        offset_unknown=offset_value != 0,
        title=title if isinstance(title, str) else "",
        artist=artist if isinstance(artist, str) else "",
        music="Inst.ogg",
    )
