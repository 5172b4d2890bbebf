import numpy as np
import pyloudnorm
import pytest

from audiotaste.features.loudness import LoudnessMeter, loudness


def _tone(freq: float, seconds: float, sr: int, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_minus_23_lufs_reference_tone_reads_minus_23() -> None:
    # EBU Tech 3341 case 1: a 1 kHz stereo sine at -23 dBFS per channel reads -23.0 LUFS.
    sr = 48000
    amplitude = 10 ** (-23 / 20)
    tone = _tone(1000.0, 20.0, sr, amplitude)
    assert loudness(np.stack([tone, tone]), sr) == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("sr", [22050, 44100, 48000])
def test_matches_pyloudnorm_on_music_like_signal(sr: int) -> None:
    rng = np.random.default_rng(sr)
    n = sr * 12
    t = np.arange(n) / sr
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t) ** 2  # swells, so gating matters
    left = env * (0.3 * np.sin(2 * np.pi * 110 * t) + 0.05 * rng.standard_normal(n))
    right = env * (0.2 * np.sin(2 * np.pi * 660 * t) + 0.08 * rng.standard_normal(n))
    y = np.stack([left, right]).astype(np.float32)
    y[:, : sr * 3] *= 0.001  # a quiet intro the relative gate must drop
    ref = pyloudnorm.Meter(sr).integrated_loudness(y.T.astype(np.float64))
    assert loudness(y, sr) == pytest.approx(ref, abs=0.1)


def test_streaming_equals_one_shot() -> None:
    sr = 44100
    y = np.random.default_rng(1).standard_normal((2, sr * 7)).astype(np.float32) * 0.1
    meter = LoudnessMeter(sr, 2)
    for start in range(0, y.shape[1], 12345):
        meter.add(y[:, start : start + 12345])
    assert meter.integrated_lufs() == pytest.approx(loudness(y, sr), abs=1e-6)


def test_silence_is_minus_infinity() -> None:
    assert loudness(np.zeros(48000 * 2, np.float32), 48000) == float("-inf")


def test_gain_shifts_loudness_by_the_same_db() -> None:
    sr = 44100
    y = np.random.default_rng(2).standard_normal(sr * 5).astype(np.float32) * 0.05
    assert loudness(2 * y, sr) - loudness(y, sr) == pytest.approx(20 * np.log10(2), abs=0.01)
