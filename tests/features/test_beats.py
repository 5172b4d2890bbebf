import numpy as np
import pytest

from audiotaste.features.rhythm import at_tempo, tempo
from tests.features._signals import SR, accelerating_clicks, click_track, offbeat_hats


def _hits(reference, times, tol=0.07):
    """For each of ``times``: is a ``reference`` time within ``tol`` seconds?"""
    reference = np.asarray(reference)
    return np.array([np.abs(reference - t).min() <= tol for t in times], bool)


@pytest.mark.parametrize("bpm", [131.3, 174.0])
def test_beats_stay_on_a_long_click_track(bpm: float) -> None:
    # 100 s at a period between frames: a grid 0.3 % off would drift half a beat by the end. The
    # beats lead a click by ~30 ms (the flux rises as the click enters the 93-ms window); on the
    # real charts the median lead is 0 (docs/BENCHMARKS.md), so it is not corrected
    est = tempo(click_track(bpm, dur=100.0), SR)
    truth = np.arange(0.5, 99.9, 60.0 / bpm)
    assert est.bpm == pytest.approx(bpm, rel=0.001)
    assert _hits(est.beat_times, truth, tol=0.045).mean() > 0.98  # recall
    assert len(est.beat_times) == pytest.approx(truth.size, abs=2)


@pytest.mark.parametrize("bpm", [120.0, 150.0, 175.0])
def test_beats_fall_on_kick_and_snare_not_the_offbeat_hats(bpm: float) -> None:
    # whatever pulse level is tapped (the model hears half time at 120 and 150), the beats are on
    # the drums, not on the hats between them (the whole-spectrum flux put every beat on a hat)
    est = tempo(offbeat_hats(bpm), SR)
    truth = np.arange(0.5, 29.7, 60.0 / bpm)
    assert len(est.beat_times) > 10
    assert _hits(truth, est.beat_times).mean() > 0.9


def test_a_segment_heard_at_double_gets_the_voted_tempos_beats() -> None:
    est = tempo(click_track(90.0, dur=30.0), SR)
    doubled = at_tempo(est, 45.0)  # the track's vote said 45: same pulse, an octave down
    assert len(doubled.beat_times) == pytest.approx(len(est.beat_times) / 2, abs=1)
    assert np.median(np.diff(doubled.beat_times)) == pytest.approx(60.0 / 45.0, rel=0.01)
    assert _hits(est.beat_times, doubled.beat_times).mean() == 1.0  # every other click
    assert doubled.bpm == est.bpm  # the segment's own tempo reading is kept


@pytest.mark.parametrize("voted", [90.0 * 1.02, 90.0 * 1.25])
def test_a_segment_at_the_voted_or_another_tempo_keeps_its_beats(voted: float) -> None:
    est = tempo(click_track(90.0, dur=30.0), SR)
    assert at_tempo(est, voted) is est


def test_beat_strength_is_not_in_to_dict() -> None:
    est = tempo(click_track(100.0, dur=6.0), SR)
    assert est.beat_strength is not None and "beat_strength" not in est.to_dict()


@pytest.mark.parametrize(("start", "end"), [(120.0, 126.0), (126.0, 120.0), (120.0, 132.0)])
def test_beats_follow_a_band_that_drifts(start: float, end: float) -> None:
    # 5-10 % over 100 s: one constant grid keeps 17-66 % of these clicks
    y, clicks = accelerating_clicks(start, end)
    est = tempo(y, SR)
    assert _hits(est.beat_times, clicks).mean() > 0.8  # recall
    assert _hits(clicks, est.beat_times).mean() > 0.8  # precision
