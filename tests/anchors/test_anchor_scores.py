"""Scorers of scripts/bench_real.py on known answers (scripts/anchors/score.py, mapping.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "anchors"))

import mapping  # noqa: E402
import score  # noqa: E402


@pytest.mark.parametrize(
    ("estimate", "acc1", "acc2"),
    [
        (120.0, True, True),
        (124.7, True, True),  # +3.9 %
        (125.2, False, False),  # +4.3 %
        (240.0, False, True),
        (60.0, False, True),
        (360.0, False, True),
        (40.0, False, True),
        (132.0, False, False),  # 1.1x
        (180.0, False, False),  # 3/2 is not an Acc2 factor
        (None, False, False),
        (float("nan"), False, False),
        (0.0, False, False),
    ],
)
def test_tempo_accuracy(estimate, acc1, acc2):
    assert score.tempo_accuracy(estimate, 120.0) == (acc1, acc2)


def test_tempo_tolerance_scales_with_the_factor():
    # Acc2's tolerance is 4 % of the scaled reference: 2x of 100 is 200 ± 8.
    assert score.tempo_accuracy(207.0, 100.0) == (False, True)
    assert score.tempo_accuracy(209.0, 100.0) == (False, False)


def test_beat_grid_runs_back_from_the_first_charted_beat():
    grid = score.beat_grid(1.2, 120.0, 3.0)
    np.testing.assert_allclose(grid, [0.2, 0.7, 1.2, 1.7, 2.2, 2.7])
    assert score.beat_grid(0.0, 60.0, 3.0).tolist() == [0.0, 1.0, 2.0]  # none at the very end
    assert score.beat_grid(0.0, 60.0, 3.01).tolist() == [0.0, 1.0, 2.0, 3.0]


def test_beat_f_measure_tolerance():
    # (no beat at 5 s: a reference beat at 5.0 would lose its estimate at 4.95 to the 5-s cut)
    ref = score.beat_grid(0.25, 120.0, 30.0)
    assert score.beat_f_measure(ref, ref) == 1.0
    assert score.beat_f_measure(ref, ref + 0.05) == 1.0
    assert score.beat_f_measure(ref, ref - 0.05) == 1.0
    assert score.beat_f_measure(ref, ref + 0.1) == 0.0
    assert score.beat_f_measure(ref, []) == 0.0


def test_beat_f_measure_counts_each_beat_once_and_skips_the_first_5_s():
    ref = score.beat_grid(0.0, 120.0, 30.0)
    # Twice as many estimates (the double tempo): precision 1/2, recall 1 -> F = 2/3.
    double = score.beat_grid(0.0, 240.0, 30.0)
    assert score.beat_f_measure(ref, double) == pytest.approx(2 / 3, abs=0.01)
    # Half the beats: precision 1, recall 1/2.
    assert score.beat_f_measure(ref, ref[::2]) == pytest.approx(2 / 3, abs=0.02)
    # Wrong beats before 5 s do not count.
    assert score.beat_f_measure(ref, np.concatenate([[0.13, 1.31, 2.77], ref[ref >= 5]])) == 1.0
    # Two estimates beside one reference beat match it once.
    assert score.beat_f_measure([6.0], [5.97, 6.03]) == pytest.approx(2 * 0.5 / 1.5)


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("C major", None, (0, "major")),
        ("F# minor", None, (6, "minor")),
        ("Bb major", None, (10, "major")),
        ("Db:min", None, (1, "minor")),
        ("a", None, (9, "minor")),
        ("E", "major", (4, "major")),
        ("7", "1", (7, "major")),
        ("11", 0, (11, "minor")),
        ("", None, None),
        (None, None, None),
    ],
)
def test_parse_key(text, mode, expected):
    assert score.parse_key(text, mode) == expected


@pytest.mark.parametrize("bad", ["H major", "C dorian-ish", "C"])
def test_parse_key_rejects_what_it_cannot_read(bad):
    with pytest.raises(ValueError, match="key|mode"):
        score.parse_key(bad)


@pytest.mark.parametrize(
    ("estimate", "reference", "expected"),
    [
        ("C major", "C major", 1.0),
        ("G major", "C major", 0.5),  # a fifth above
        ("E minor", "A minor", 0.5),
        ("A minor", "C major", 0.3),  # relative
        ("C major", "A minor", 0.3),
        ("C minor", "C major", 0.2),  # parallel
        ("F major", "C major", 0.0),  # a fifth below: mir_eval gives it nothing
        ("D major", "C major", 0.0),
        ("E minor", "C major", 0.0),
    ],
)
def test_key_score_mirex(estimate, reference, expected):
    assert score.key_score(score.parse_key(estimate), score.parse_key(reference)) == expected


def test_no_key_scores_zero():
    assert score.key_score(None, (0, "major")) == 0.0


def test_roc_auc():
    assert score.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert score.roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert score.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert score.roc_auc([1, 1, 1], [0.1, 0.2, 0.3]) is None


def test_ece_of_calibrated_bins_is_zero_and_of_overconfidence_is_not():
    # In each bin the mean probability equals the share of positives.
    y = [1] * 2 + [0] * 8 + [1] * 7 + [0] * 3 + [1] * 9 + [0]
    p = [0.2] * 10 + [0.7] * 10 + [0.9] * 10
    assert score.expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-12)
    # Always 0.95 sure, right half the time: |0.5 - 0.95| = 0.45.
    assert score.expected_calibration_error([1, 0] * 10, [0.95] * 20) == pytest.approx(0.45)
    # p = 1.0 falls in the last bin, not past it.
    assert score.expected_calibration_error([1, 1], [1.0, 1.0]) == 0.0


def test_times_real_time_is_a_median():
    assert score.times_real_time([30, 30, 30], [1.0, 0.5, 0.1]) == 60.0
    assert score.times_real_time([], []) is None


def test_mapping_takes_the_largest_tag_and_skips_unnamed_genres():
    tags = {"tag.rock": 0.2, "tag.hard rock": 0.7, "tag.jazz": 0.1, "tag.Hip-Hop": 0.05}
    genres = mapping.genre_scores("msd", tags)
    assert genres["Pop/Rock"] == 0.7
    assert genres["Jazz"] == 0.1
    assert "Latin" not in genres and "Country" not in genres


def test_mood_axes_and_quadrants():
    axes = mapping.mood_axes("ours", {"mood.happy": 0.9, "mood.tender": 0.5, "mood.sad": 0.1,
                                      "mood.tense": 0.1, "mood.energetic": 0.8, "mood.calm": 0.1})
    assert axes["valence"] == pytest.approx((0.7 - 0.1 + 1) / 2)
    assert axes["arousal"] > 0.5
    assert "valence" not in mapping.mood_axes("mtt", {"tag.fast": 1.0, "tag.slow": 0.0})
    q = mapping.quadrant_scores(0.9, 0.8)
    assert max(q, key=q.get) == "Q1" and sum(q.values()) == pytest.approx(1.0)
    assert mapping.pooled([{"a": 0.2, "b": 0.4}, {"a": 0.6}]) == {"a": 0.4, "b": 0.4}
