import math
import warnings

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays

from audiotaste.features.spectrum import stft_power
from audiotaste.features.tonal import KeyEstimate, chromagram, key
from tests.features._signals import SR, cadence


@pytest.mark.parametrize(
    "tonic,minor,name",
    [(0, True, "C"), (7, False, "G"), (6, True, "F#"), (4, True, "E")],
)
def test_cadence_reads_its_key(tonic: int, minor: bool, name: str) -> None:
    est = key(cadence(tonic, minor=minor), SR)
    assert (est.key, est.key_name, est.mode) == (tonic, name, 0 if minor else 1)
    assert 0.0 < est.confidence <= 1.0


@pytest.mark.parametrize("cents", [-40.0, 35.0])
def test_detuned_cadence_still_reads_its_key(cents: float) -> None:
    est = key(cadence(9, minor=True, detune_cents=cents), SR)
    assert (est.key, est.mode) == (9, 0)


def test_tuning_estimate_recovers_the_detuning() -> None:
    import soxr

    from audiotaste.features.spectrum import Spectrum
    from audiotaste.features.tonal import estimate_tuning

    low = soxr.resample(cadence(2, minor=False, detune_cents=-25.0), SR, 5512.5)
    spec = stft_power(low, sr=5512, n_fft=2048, hop_length=1024)
    spec = Spectrum(spec.power, 5512.5, 2048, 1024)  # type: ignore[arg-type]
    assert estimate_tuning(spec) == pytest.approx(-0.25, abs=0.03)


def test_chromagram_of_a_chord_lights_its_notes() -> None:
    t = np.arange(SR) / SR
    freqs = np.array([261.63, 329.63, 392.0])  # C4 E4 G4
    y = np.sin(2 * np.pi * freqs[:, None] * t[None, :]).sum(axis=0).astype(np.float32)
    chroma = chromagram(stft_power(y, sr=SR))
    assert chroma.shape[0] == 12
    profile = chroma.mean(axis=1)
    assert set(np.argsort(profile)[-3:].tolist()) == {0, 4, 7}
    assert profile[[0, 4, 7]].sum() > 0.5 * profile.sum()


@pytest.mark.parametrize("n", [0, 22, SR])
def test_silence_has_no_key(n: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = key(np.zeros(n, np.float32), SR)
    assert est == KeyEstimate(-1, "", est.mode, 0.0)
    assert est.to_dict()["key_name"] == ""


def test_one_millisecond_is_nan_free() -> None:
    rng = np.random.default_rng(0)
    est = key(0.1 * rng.standard_normal(22).astype(np.float32), SR)
    assert math.isfinite(est.confidence) and -1 <= est.key <= 11


def test_corrupt_model_file_raises_model_error(tmp_path, monkeypatch) -> None:
    from audiotaste.errors import ModelError
    from audiotaste.features import _models

    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "key.safetensors").write_bytes(b"\x00" * 64)
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(tmp_path))
    _models.load_key_net.cache_clear()
    try:
        with pytest.raises(ModelError, match="key.safetensors"):
            key(cadence(0, minor=True), SR)
    finally:
        _models.load_key_net.cache_clear()


def test_missing_model_falls_back_to_templates(tmp_path, monkeypatch) -> None:
    from audiotaste.features import _models

    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(tmp_path))
    _models.load_key_net.cache_clear()
    try:
        est = key(cadence(7, minor=False), SR)
        assert (est.key, est.mode) == (7, 1)
    finally:
        _models.load_key_net.cache_clear()


@settings(max_examples=25, deadline=None)
@given(arrays(np.float32, st.integers(0, 4000), elements=st.floats(-1e3, 1e3, width=32)))
def test_any_finite_signal_gives_a_valid_key(y: np.ndarray) -> None:
    est = key(y, SR)
    assert -1 <= est.key <= 11 and est.mode in (0, 1)
    assert math.isfinite(est.confidence) and 0.0 <= est.confidence <= 1.0
    assert (est.key == -1) == (est.key_name == "")


def _write_key_model(path, nets, n_blocks: int) -> None:
    from audiotaste.features._models import KeyEnsemble, save_weights

    meta = {"n_blocks": str(n_blocks), "hidden": "8", "pairs": "1"}
    module = nets[0] if len(nets) == 1 else KeyEnsemble(nets)
    if len(nets) > 1:
        meta["n_models"] = str(len(nets))
    path.mkdir(parents=True, exist_ok=True)
    save_weights(module, path / "key.safetensors", meta)


def test_key_ensemble_file_averages_its_members(tmp_path, monkeypatch) -> None:
    import torch

    from audiotaste.features import _models
    from audiotaste.features.tonal import N_KEY_BLOCKS, key_features

    torch.manual_seed(0)
    nets = [_models.KeyNet(N_KEY_BLOCKS, hidden=8, pairs=True) for _ in range(3)]
    _write_key_model(tmp_path / "features", nets, N_KEY_BLOCKS)
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(tmp_path))
    _models.load_key_net.cache_clear()
    try:
        loaded, meta = _models.load_key_net()
        assert isinstance(loaded, _models.KeyEnsemble) and meta["n_models"] == "3"
        x = torch.from_numpy(key_features(cadence(2, minor=True), SR))[None]
        with torch.no_grad():
            mean_p = torch.stack([torch.softmax(n(x), dim=1) for n in nets]).mean(0)
            got = torch.softmax(loaded(x), dim=1)
        assert torch.allclose(got, mean_p, atol=1e-6)
        est = key(cadence(2, minor=True), SR)
        best = int(mean_p.argmax())
        assert (est.key, est.mode) == (best % 12, 1 - best // 12)
    finally:
        _models.load_key_net.cache_clear()


def test_key_model_for_another_feature_layout_is_refused(tmp_path, monkeypatch) -> None:
    from audiotaste.errors import ModelError
    from audiotaste.features import _models
    from audiotaste.features.tonal import N_KEY_BLOCKS

    _write_key_model(tmp_path / "features", [_models.KeyNet(N_KEY_BLOCKS - 1, hidden=8, pairs=True)],
                     N_KEY_BLOCKS - 1)
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(tmp_path))
    _models.load_key_net.cache_clear()
    try:
        with pytest.raises(ModelError, match="feature blocks"):
            key(cadence(0, minor=True), SR)
    finally:
        _models.load_key_net.cache_clear()
