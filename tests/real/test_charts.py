"""Chart parsers (scripts/real/charts.py) on tiny charts with known answers, and on any text."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from real.charts import (  # noqa: E402
    OFFSET_UNKNOWN,
    OUT_OF_RANGE,
    STOPS,
    TEMPO_CHANGES,
    ChartError,
    ChartSkip,
    ConstantTempo,
    constant_tempo,
    decode_chart,
    parse_chart,
)

SM = """#TITLE:Song;
#ARTIST:The Band;
#MUSIC:song.ogg;
#OFFSET:-0.250;   // beat 0 at +0.25 s
#BPMS:0.000=128.000;
#STOPS:;
#NOTES:
     dance-single:
     :
     Hard:
     7:
     0,0,0,0,0:
0000
1000
0100
0010
;
"""


def skip_reason(text: str, fmt: str) -> str:
    with pytest.raises(ChartSkip) as caught:
        constant_tempo(parse_chart(text, fmt=fmt))
    return caught.value.reason


def test_sm_constant_tempo_offset_sign_and_metadata():
    chart = parse_chart(SM, fmt="sm")
    assert (chart.title, chart.artist, chart.music) == ("Song", "The Band", "song.ogg")
    assert constant_tempo(chart) == ConstantTempo(bpm=128.0, first_beat_s=0.25, meter="")


def test_sm_tempo_change_stop_and_float_noise():
    assert (
        skip_reason(SM.replace("0.000=128.000", "0.000=128.000,32.000=140.000"), "sm")
        == TEMPO_CHANGES
    )
    assert skip_reason(SM.replace("#STOPS:;", "#STOPS:16.000=0.500;"), "sm") == STOPS
    assert (
        skip_reason(SM.replace("0.000=128.000", "0.000=128.000,8.000=-128.000,9.000=128.000"), "sm")
        == TEMPO_CHANGES
    )
    noisy = constant_tempo(
        parse_chart(SM.replace("0.000=128.000", "0.000=128.000,64.000=128.001"), fmt="sm")
    )
    assert noisy.bpm == 128.0


def test_first_beat_before_the_audio_moves_forward_by_whole_beats():
    # #OFFSET:+0.1 puts beat 0 at -0.1 s; at 120 BPM the first beat inside the audio is at 0.4 s
    tempo = constant_tempo(
        parse_chart(
            SM.replace("#OFFSET:-0.250;", "#OFFSET:0.100;").replace("128.000", "120"), fmt="sm"
        )
    )
    assert tempo.first_beat_s == pytest.approx(0.4)
    # a first beat far before the audio (several beats) lands inside the first beat period too
    tempo = constant_tempo(
        parse_chart(
            SM.replace("#OFFSET:-0.250;", "#OFFSET:2.2;").replace("128.000", "120"), fmt="sm"
        )
    )
    assert tempo.first_beat_s == pytest.approx(0.3)


def test_sm_missing_semicolon_and_ssc_timing():
    assert constant_tempo(parse_chart("#OFFSET:-1.0\n#BPMS:0=90\n", fmt="sm")).bpm == 90.0
    ssc = "#VERSION:0.83;\n#OFFSET:-0.5;\n#BPMS:0=100;\n#TIMESIGNATURES:0=3=4;\n#NOTEDATA:;\n#STEPSTYPE:dance-single;\n#NOTES:\n0000\n;\n"
    assert constant_tempo(parse_chart(ssc, fmt="ssc")) == ConstantTempo(100.0, 0.5, "3/4")
    split_timing = ssc.replace("#STEPSTYPE", "#BPMS:0=100,4=200;\n#STEPSTYPE")
    assert skip_reason(split_timing, "ssc") == TEMPO_CHANGES
    meter_change = ssc.replace("0=3=4", "0=3=4,12=4=4")
    assert constant_tempo(parse_chart(meter_change, fmt="ssc")).meter == ""


TJA = """TITLE:Drum Song
SUBTITLE:--Taiko Artist
BPM:150
WAVE:drum.ogg
OFFSET:-1.2

COURSE:Oni
LEVEL:8
#START
1010101010101010,
#MEASURE 4/4
1111,
#END
"""


def test_tja_constant_meter_and_tempo_sections():
    chart = parse_chart(TJA, fmt="tja")
    assert (chart.title, chart.artist, chart.music) == ("Drum Song", "Taiko Artist", "drum.ogg")
    assert constant_tempo(chart) == ConstantTempo(150.0, 1.2, "4/4")
    assert (
        constant_tempo(parse_chart(TJA.replace("#MEASURE 4/4", "#MEASURE 7/8"), fmt="tja")).meter
        == ""
    )
    assert (
        constant_tempo(parse_chart(TJA.replace("#MEASURE 4/4", "#BPMCHANGE 150"), fmt="tja")).bpm
        == 150.0
    )
    assert skip_reason(TJA.replace("#MEASURE 4/4", "#BPMCHANGE 180"), "tja") == TEMPO_CHANGES
    assert skip_reason(TJA.replace("#MEASURE 4/4", "#DELAY 0.5"), "tja") == STOPS


def test_tja_shift_jis_bytes_decode():
    text = decode_chart(TJA.replace("Drum Song", "太鼓の歌").encode("cp932"))
    assert parse_chart(text, fmt="tja").title == "太鼓の歌"


OSU = """osu file format v14

[General]
AudioFilename: audio.mp3
Mode: 3

[Metadata]
Title:Circle Song
Artist:Mapper Band

[TimingPoints]
1000,500,4,2,0,60,1,0
2000,-100,4,2,0,60,0,0
{extra}

[HitObjects]
64,192,1000,1,0,0:0:0:0:
"""


def test_osu_uninherited_points_set_the_grid():
    chart = parse_chart(OSU.format(extra=""), fmt="osu")
    assert (chart.title, chart.artist, chart.music) == ("Circle Song", "Mapper Band", "audio.mp3")
    assert constant_tempo(chart) == ConstantTempo(120.0, 1.0, "4/4")
    # the same tempo restated on the grid with another meter: constant tempo, meter unknown
    assert constant_tempo(
        parse_chart(OSU.format(extra="9000,500,3,2,0,60,1,0"), fmt="osu")
    ) == ConstantTempo(120.0, 1.0, "")
    assert (
        skip_reason(OSU.format(extra="9100,500,4,2,0,60,1,0"), "osu") == TEMPO_CHANGES
    )  # grid moved 100 ms
    assert skip_reason(OSU.format(extra="9000,400,4,2,0,60,1,0"), "osu") == TEMPO_CHANGES
    old_format = "osu file format v3\n[TimingPoints]\n250,600\n"
    assert constant_tempo(parse_chart(old_format, fmt="osu")) == ConstantTempo(100.0, 0.25, "4/4")


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("hello", "sm"),
        ("#BPMS:0=abc;", "sm"),
        ("#BPMS:0=0;", "sm"),
        ("#BPMS:0=120;#OFFSET:nan;", "sm"),
        ("TITLE:x\n#START\n#END", "tja"),
        ("BPM:120\n#START\n#MEASURE x\n", "tja"),
        ("not an osu file", "osu"),
        ("osu file format v14\n[TimingPoints]\n0,-100,4,1,0,100,0,0\n", "osu"),
        ("#BPMS:0=120;", "bms"),
        ("[Song]\n{\n}\n", "chart"),
        ("[Song]\n{\n}\n[SyncTrack]\n{\n0 = TS 4\n}\n", "chart"),
        ("[Song]\n{\n}\n[SyncTrack]\n{\n0 = B 0\n}\n", "chart"),
        ("[Song]\n{\n}\n[SyncTrack]\n{\n192 = B 120000\n}\n", "chart"),
        ("[Song]\n{\nResolution = 0\n}\n[SyncTrack]\n{\n0 = B 120000\n}\n", "chart"),
        ("[Song]\n{\n}\n[SyncTrack]\n{\n0 = X 1\n}\n", "chart"),
        ('{"song": {"song": "Test", "notes": []}}', "json"),
        ('{"song": {"bpm": 100}}', "json"),
        ('{"song": {"bpm": true, "notes": []}}', "json"),
        ('{"song": {"bpm": 0, "notes": []}}', "json"),
        ('{"song": {"bpm": 100, "notes": [{"changeBPM": true, "bpm": "fast"}]}}', "json"),
        ('[{"notes": []}]', "json"),
        ("not json at all", "json"),
    ],
)
def test_garbage_is_a_chart_error(text, fmt):
    with pytest.raises(ChartError):
        parse_chart(text, fmt=fmt)


CHARTISH = st.text(
    alphabet="#:;=,./- \n[]{}0123456789eBPMSOFTSTARTENDCHANGEMEASUREDELAYosu file format vSongyncTrack",
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(st.text(max_size=300), CHARTISH),
    fmt=st.sampled_from(["sm", "ssc", "tja", "osu", "chart", "json"]),
)
def test_any_text_gives_a_chart_or_a_chart_error(text, fmt):
    try:
        chart = parse_chart(text, fmt=fmt)
    except ChartError:
        return
    assert chart.sections
    try:
        tempo = constant_tempo(chart)
    except ChartSkip:
        return
    assert tempo.bpm > 0 and tempo.first_beat_s >= 0


@settings(max_examples=200, deadline=None)
@given(
    bpm=st.floats(min_value=30, max_value=400),
    offset=st.floats(min_value=-1e6, max_value=1e6),
)
def test_sm_first_beat_is_on_the_grid_and_inside_the_audio(bpm, offset):
    tempo = constant_tempo(parse_chart(f"#OFFSET:{offset!r};\n#BPMS:0={bpm!r};", fmt="sm"))
    period = 60 / bpm
    assert 0 <= tempo.first_beat_s < period + 1e-6 or tempo.first_beat_s == pytest.approx(-offset)
    beats = (tempo.first_beat_s + offset) / period
    assert beats == pytest.approx(round(beats), abs=1e-6)


def test_zero_offset_gives_a_positive_zero_first_beat():
    first = constant_tempo(parse_chart("#OFFSET:0;\n#BPMS:0=120;", fmt="sm")).first_beat_s
    assert first == 0.0 and math.copysign(1.0, first) == 1.0  # never written as "-0.0000"


def test_gimmick_tempo_outside_the_music_range_is_skipped():
    assert skip_reason(SM.replace("128.000", "2000"), "sm") == OUT_OF_RANGE
    assert skip_reason(SM.replace("128.000", "12"), "sm") == OUT_OF_RANGE
    assert constant_tempo(parse_chart(SM.replace("128.000", "400"), fmt="sm")).bpm == 400.0


CH = """\ufeff[Song]
{
  Name = "Exhilarate"
  Artist = "Kevin MacLeod"
  Offset = 0
  Resolution = 192
  MusicStream = "song.mp3"
}
[SyncTrack]
{
  0 = TS 4
  0 = B 170000
  768 = A 1058823
  768 = B 170000
}
[Events]
{
  0 = E "section Intro"
}
[ExpertSingle]
{
  768 = N 0 0
}
"""


def test_clone_hero_chart_constant_tempo_metadata_and_restated_markers():
    chart = parse_chart(CH, fmt="chart")
    assert (chart.title, chart.artist, chart.music) == ("Exhilarate", "Kevin MacLeod", "song.mp3")
    assert constant_tempo(chart) == ConstantTempo(bpm=170.0, first_beat_s=0.0, meter="4/4")
    # a tempo change at beat 8 (tick 1536 at 192 ticks per beat)
    changed = CH.replace("768 = B 170000", "1536 = B 85000")
    assert [s.start_beat for s in parse_chart(changed, fmt="chart").sections] == [0.0, 8.0]
    assert skip_reason(changed, "chart") == TEMPO_CHANGES


def test_clone_hero_chart_offset_is_skipped_resolution_and_meter():
    # a non-zero legacy Offset: its sign convention is unknown, so the chart is skipped, not guessed
    late = CH.replace("Offset = 0", "Offset = 0.25")
    assert parse_chart(late, fmt="chart").offset_unknown
    assert skip_reason(late, "chart") == OFFSET_UNKNOWN
    eighths = CH.replace("TS 4", "TS 6 3")
    assert constant_tempo(parse_chart(eighths, fmt="chart")).meter == "6/8"
    assert parse_chart(CH.replace('  MusicStream = "song.mp3"\n', ""), fmt="chart").music == "song.ogg"
    fine = CH.replace("Resolution = 192", "Resolution = 480").replace("768 = B", "1920 = B")
    assert parse_chart(fine, fmt="chart").sections[1].start_beat == 4.0
    assert constant_tempo(parse_chart(CH.replace("0 = TS 4", "0 = TS 4\n  384 = TS 3"), fmt="chart")).meter == ""


@settings(max_examples=200, deadline=None)
@given(
    milli_bpm=st.integers(min_value=30_000, max_value=400_000),
    offset=st.one_of(st.just(0.0), st.floats(min_value=-30, max_value=30, allow_nan=False)),
    resolution=st.sampled_from([192, 480, 960]),
    restated=st.lists(st.integers(min_value=1, max_value=10_000), max_size=5),
)
def test_clone_hero_grid_is_the_b_marker_tempo_from_time_zero(milli_bpm, offset, resolution, restated):
    sync = "\n".join([f"0 = B {milli_bpm}"] + [f"{t} = B {milli_bpm}" for t in restated])
    text = f"[Song]\n{{\nOffset = {offset!r}\nResolution = {resolution}\n}}\n[SyncTrack]\n{{\n{sync}\n}}\n"
    chart = parse_chart(text, fmt="chart")
    if offset != 0:
        with pytest.raises(ChartSkip):
            constant_tempo(chart)
        return
    tempo = constant_tempo(chart)
    assert tempo.bpm == pytest.approx(milli_bpm / 1000) and tempo.first_beat_s == 0.0


FNF = """{"song": {"player1": "bf", "player2": "dad", "song": "Bopeebo", "bpm": 100, "needsVoices": true,
  "notes": [{"lengthInSteps": 16, "sectionNotes": [[0, 2, 0]], "mustHitSection": false},
            {"lengthInSteps": 16, "sectionNotes": [], "mustHitSection": true, "changeBPM": false, "bpm": 150},
            {"sectionBeats": 4, "sectionNotes": [], "mustHitSection": true, "bpm": 100, "changeBPM": true}]}}"""


def test_friday_night_funkin_tempo_title_and_beat_zero_at_the_start():
    chart = parse_chart(FNF, fmt="json")
    assert (chart.title, chart.artist, chart.music, chart.meter) == ("Bopeebo", "", "Inst.ogg", "")
    # a section's bpm counts only where it says changeBPM (the same tempo again is no change)
    assert constant_tempo(chart) == ConstantTempo(bpm=100.0, first_beat_s=0.0, meter="")
    faster = FNF.replace('"bpm": 100, "changeBPM": true', '"bpm": 150, "changeBPM": true')
    assert skip_reason(faster, "json") == TEMPO_CHANGES
    top_level = '{"song": "Fresh", "bpm": 120, "notes": [], "artist": "Kawai Sprite"}'
    assert (parse_chart(top_level, fmt="json").title, parse_chart(top_level, fmt="json").artist) == ("Fresh", "Kawai Sprite")
    assert skip_reason(FNF.replace('"bpm": 100, "needsVoices"', '"bpm": 100, "offset": -30, "needsVoices"'), "json") == OFFSET_UNKNOWN
    assert constant_tempo(parse_chart(FNF.replace('"needsVoices"', '"offset": 0, "needsVoices"'), fmt="json")).bpm == 100.0
