"""The shared figure helpers and track names: what people read must be right."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiotaste.catalogue.names import name_from_path, split_file_name, track_label
from audiotaste.report.figures import _profile_title, fmt_weight, plot_taste_profile


@pytest.mark.parametrize(("value", "text"), [(-0.001, "0.00"), (-0.0, "0.00"), (0.004, "0.00"),
                                             (-0.006, "-0.01"), (0.125, "0.12"), (1.0, "1.00")])
def test_weights_never_read_minus_zero(value: float, text: str) -> None:
    assert fmt_weight(value) == text


def test_the_profile_title_says_the_tempo_range_once() -> None:
    profile = {"user_id": "u01", "label": "tender jazz and ambient at 58-128 BPM",
               "tempo_range": [58.2, 127.9], "openness": 0.5999}
    title = _profile_title(profile)
    assert title.count("58-128 BPM") == 1 and title.endswith("openness 0.60")
    assert "90-120 BPM" in _profile_title({**profile, "label": "calm jazz", "tempo_range": [90, 120]})


def test_taste_plot_without_artists_is_written(tmp_path: Path) -> None:
    profile = {"user_id": "u01", "label": "jazz", "genres": {"jazz": 0.3, "rock": -0.05},
               "moods": {}, "top_artists": {}, "drift": [], "tempo_range": None, "openness": None}
    out = plot_taste_profile(profile, tmp_path / "sub" / "taste.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(out.parent.glob("*.tmp"))


@pytest.mark.parametrize(("path", "artist", "title", "name"), [
    ("/m/the_velvet_quartet-blue_hour_walk.ogg", "the velvet quartet", "blue hour walk",
     "“blue hour walk” by the velvet quartet"),
    ("C:\\m\\03 - Song.flac", "", "Song", "“Song”"),
    ("x/Artist - Title.mp3", "Artist", "Title", "“Title” by Artist"),
    ("weird.name.wav", "", "weird.name", "“weird.name”"),
    ("", "", "", "an unnamed file"),
])
def test_names_from_file_names(path: str, artist: str, title: str, name: str) -> None:
    assert split_file_name(path) == (artist, title)
    assert name_from_path(path) == name


def test_track_label_prefers_tags_then_the_file_then_the_id() -> None:
    assert track_label("A", "T", "/x/b-c.ogg", "id") == "A - T"
    assert track_label(math.nan, "T") == "T"
    assert track_label(None, "", "/x/b-c.ogg", "id") == "“c” by b"
    assert track_label(None, None, None, "0123abcd") == "0123abcd"
    assert track_label("A\nB", " T ") == "A B - T"  # one line, whatever the tags hold


@given(st.text(), st.one_of(st.none(), st.text(), st.floats()), st.one_of(st.none(), st.text()))
def test_naming_never_fails_and_gives_one_line(path: str, artist: object, title: object) -> None:
    for text in (name_from_path(path), track_label(artist, title, path, "id")):
        assert isinstance(text, str) and text and "\n" not in text


def test_a_reliability_diagram_is_drawn_from_the_bins_a_card_stores() -> None:
    from audiotaste.report.figures import reliability_figure
    from audiotaste.tagger.calibration import reliability_bins

    rng = np.random.default_rng(0)
    p = rng.random(400)
    y = rng.random(400) < p
    uri = reliability_figure({"valence": reliability_bins(p, y), "arousal": reliability_bins(p, ~y)},
                             title="test")
    assert uri.startswith("data:image/png;base64,") and len(uri) > 5000
