"""The tagger network, patching and calibration: shapes, known values, invariances."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from audiotaste.tagger.calibration import expected_calibration_error, fit_temperature, sigmoid
from audiotaste.tagger.model import (
    FrontEnd,
    TaggerNet,
    cut_patches,
    normalize_patches,
    patch_starts,
)


def test_default_net_is_under_a_million_parameters_and_shapes_are_right() -> None:
    net = TaggerNet(24).eval()
    assert sum(p.numel() for p in net.parameters()) < 1_000_000
    with torch.inference_mode():
        logits, emb = net(torch.zeros(3, 128, 128))
    assert logits.shape == (3, 24)
    assert emb.shape == (3, 128)


@pytest.mark.parametrize("frames", [17, 128, 301])
def test_net_accepts_any_patch_length(frames: int) -> None:
    net = TaggerNet(5).eval()
    with torch.inference_mode():
        logits, _ = net(torch.randn(2, 128, frames))
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()


def test_front_end_defaults_match_the_analysis_front_end() -> None:
    fe = FrontEnd()
    assert (fe.sr, fe.n_fft, fe.hop_length) == (22050, 2048, 512)
    assert fe.patch_seconds == pytest.approx(128 * 512 / 22050)


@pytest.mark.parametrize(
    "n_frames,expected",
    [(300, [0, 128, 172]), (256, [0, 128]), (128, [0]), (100, [0]), (1, [0]), (129, [0, 1])],
)
def test_patch_starts_cover_the_track_and_align_the_tail(n_frames: int, expected: list[int]) -> None:
    assert patch_starts(n_frames, 128, 128).tolist() == expected


def test_a_clip_shorter_than_a_patch_is_looped() -> None:
    mel = np.arange(2 * 50, dtype=np.float32).reshape(2, 50)
    patch = cut_patches(mel, np.array([0]), 128)
    assert patch.shape == (1, 2, 128)
    np.testing.assert_array_equal(patch[0, :, :50], mel)
    np.testing.assert_array_equal(patch[0, :, 50:100], mel)
    np.testing.assert_array_equal(patch[0, :, 100:], mel[:, :28])


def test_cut_patches_copies_the_right_frames() -> None:
    mel = np.tile(np.arange(300, dtype=np.float32), (4, 1))
    patches = cut_patches(mel, patch_starts(300, 128, 128), 128)
    assert patches.shape == (3, 4, 128)
    assert patches[:, 0, 0].tolist() == [0, 128, 172]
    assert patches[2, 0, -1] == 299


@pytest.mark.parametrize("norm", ["patch", "band"])
def test_normalisation_removes_gain(norm: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(-30, 10, size=(2, 128, 128)).astype(np.float32)
    np.testing.assert_allclose(normalize_patches(x + 6.0, norm), normalize_patches(x, norm), atol=1e-5)
    # silence (a constant floor) becomes all zeros, not NaN
    assert np.all(normalize_patches(np.full((1, 8, 8), -100.0), norm) == 0.0)


def test_band_normalisation_removes_a_fixed_equaliser() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(-30, 10, size=(2, 128, 64)).astype(np.float32)
    eq = rng.uniform(-12, 12, size=(1, 128, 1)).astype(np.float32)
    np.testing.assert_allclose(normalize_patches(x + eq, "band"), normalize_patches(x, "band"), atol=1e-4)
    assert not np.allclose(normalize_patches(x + eq, "patch"), normalize_patches(x, "patch"), atol=1e-2)


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 4, size=(20000, 1))
    y = (rng.random(z.shape) < sigmoid(z / 2.5)).astype(float)
    assert fit_temperature(z, y) == pytest.approx(2.5, rel=0.08)
    assert fit_temperature(np.zeros((0, 3)), np.zeros((0, 3))) == 1.0


def test_ece_known_values() -> None:
    # one bin holding 0.9 and 0.9 with one positive: |1.8 - 1| / 2
    assert expected_calibration_error(np.array([[0.9, 0.9]]), np.array([[1, 0]])) == pytest.approx(0.4)
    rng = np.random.default_rng(2)
    p = rng.random(50000)
    calibrated = (rng.random(p.size) < p).astype(float)
    assert expected_calibration_error(p, calibrated) < 0.01
    overconfident = (rng.random(p.size) < 0.5).astype(float)
    assert expected_calibration_error(p, overconfident) > 0.2


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.integers(1, 40), elements=st.floats(0, 1)), st.integers(0, 2**31))
def test_ece_is_a_fraction(p: np.ndarray, seed: int) -> None:
    y = (np.random.default_rng(seed).random(p.size) < 0.5).astype(float)
    assert 0.0 <= expected_calibration_error(p, y) <= 1.0


@given(arrays(np.float64, 8, elements=st.floats(-1e6, 1e6)))
def test_sigmoid_is_stable(x: np.ndarray) -> None:
    s = sigmoid(x)
    assert np.all((s >= 0) & (s <= 1)) and np.isfinite(s).all()


def test_reliability_bins_known_values() -> None:
    from audiotaste.tagger.calibration import reliability_bins

    r = reliability_bins(np.array([0.05, 0.15, 0.12, 0.95, 1.0]), np.array([0, 1, 0, 1, 1]), n_bins=4)
    assert r["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert r["count"] == [3, 0, 0, 2]  # 1.0 falls in the last bin, not a fifth one
    assert r["mean_predicted"][0] == pytest.approx(0.32 / 3) and r["mean_predicted"][1] is None
    assert r["observed"] == [pytest.approx(1 / 3), None, None, 1.0]
