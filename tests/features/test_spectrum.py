import librosa
import numpy as np
import pytest

from audiotaste.features.spectrum import mel_filterbank, melspectrogram, stft_power


@pytest.fixture(scope="module")
def music_like() -> np.ndarray:
    rng = np.random.default_rng(0)
    sr = 22050
    t = np.arange(sr * 4) / sr
    y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (110.0, 220.0, 330.0, 1234.5, 4000.0))
    y = y * (1 + 0.5 * np.sin(2 * np.pi * 2 * t)) + 0.01 * rng.standard_normal(t.size)
    return y.astype(np.float32)


@pytest.mark.parametrize("n_mels,fmax", [(128, None), (96, 8000.0), (40, 4000.0)])
def test_filterbank_equals_librosa(n_mels: int, fmax: float | None) -> None:
    ours = mel_filterbank(sr=22050, n_fft=2048, n_mels=n_mels, fmax=fmax)
    ref = librosa.filters.mel(sr=22050, n_fft=2048, n_mels=n_mels, fmax=fmax)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-8)


def test_torch_mel_matches_librosa_within_0p01_db(music_like: np.ndarray) -> None:
    ours = melspectrogram(music_like, 22050, top_db=None)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=music_like, sr=22050), ref=1.0, top_db=None)
    assert ours.shape == ref.shape
    audible = ref > ref.max() - 80.0
    assert audible.mean() > 0.5
    assert np.max(np.abs(ours[audible] - ref[audible])) <= 0.01


def test_short_signal_gives_one_frame() -> None:
    spec = stft_power(np.ones(10, dtype=np.float32))
    assert spec.n_frames >= 1 and np.isfinite(spec.power).all()
