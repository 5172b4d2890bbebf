"""The speech and percussion check (``features.nonmusic``): known answers on signals made here."""

from __future__ import annotations

import numpy as np
import pytest

from audiotaste.features import nonmusic
from audiotaste.features.pitch import key_inputs
from audiotaste.features.spectrum import melspectrogram
from tests.features._signals import SR, cadence, click_track, drums, speech_like


def _summaries(y: np.ndarray) -> dict[str, float]:
    inputs = key_inputs(y, SR)
    feats, share = (None, 0.0) if inputs is None else inputs
    return dict(zip(nonmusic.NAMES, nonmusic.summaries(melspectrogram(y, SR), feats, share), strict=True))


def _verdict(y: np.ndarray) -> nonmusic.Verdict:
    inputs = key_inputs(y, SR)
    assert inputs is not None
    return nonmusic.judge(melspectrogram(y, SR), *inputs)


def test_pause_share_counts_the_silent_frames() -> None:
    """A tone sounding 1 s in every 2 leaves nearly half its frames 25 dB under the loud ones: the
    93-ms window hears each tone up to half a window early and late, so 0.45-0.5."""
    t = np.arange(20 * SR) / SR
    y = (0.3 * np.sin(2 * np.pi * 220 * t) * ((t % 2.0) < 1.0)).astype(np.float32)
    assert 0.44 <= _summaries(y)["pause_share"] <= 0.5


def test_pulse_is_high_for_clicks_and_low_for_noise() -> None:
    noise = (0.1 * np.random.default_rng(0).standard_normal(20 * SR)).astype(np.float32)
    assert _summaries(click_track(120.0))["pulse"] > 0.6
    assert _summaries(noise)["pulse"] < 0.2


def test_flatness_is_high_for_noise_and_low_for_a_chord() -> None:
    noise = (0.1 * np.random.default_rng(0).standard_normal(20 * SR)).astype(np.float32)
    assert _summaries(noise)["flatness"] > 0.4
    assert _summaries(cadence(0, minor=False))["flatness"] < 0.2


def test_summaries_of_a_too_short_spectrogram_are_zero() -> None:
    assert not nonmusic.summaries(np.zeros((128, 3), np.float32), None, 0.0).any()


@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("speech-like", speech_like, "speech"),
        ("drums", drums, "percussion only"),
        ("a cadence", lambda: cadence(0, minor=True), None),
    ],
)
def test_the_check_tells_speech_and_drums_from_music(name: str, make, kind: str | None) -> None:  # type: ignore[no-untyped-def]
    verdict = _verdict(make())
    assert verdict.kind == kind, (name, verdict)
    assert 0.0 <= verdict.speech <= 1.0 and 0.0 <= verdict.percussion <= 1.0
