import math
import warnings

import hypothesis.strategies as st
import numpy as np
import pytest
import scipy.fft
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays

from audiotaste.features.rhythm import TempoEstimate, onset_envelope, tempo
from audiotaste.features.spectrum import melspectrogram, stft_power
from tests.features._signals import SR, cadence, click_track, drums, six_eight, white_noise


@pytest.mark.parametrize("bpm", [60.0, 90.0, 128.0, 140.0, 180.0])
def test_click_track_reads_its_tempo(bpm: float) -> None:
    est = tempo(click_track(bpm), SR)
    assert est.bpm == pytest.approx(bpm, abs=1.0)
    assert 0.5 < est.confidence <= 1.0


@pytest.mark.parametrize("offset", [0.25, 0.5, 0.75])
def test_off_grid_tempo_is_exact(offset: float) -> None:
    # between two of the model's bins (2.9 % apart): the autocorrelation peak gives the exact period
    bpm = 30.0 * 2.0 ** ((50 + offset) / 24)
    est = tempo(click_track(bpm), SR)
    assert est.bpm == pytest.approx(bpm, rel=0.005)
    assert np.median(np.diff(est.beat_times)) == pytest.approx(60.0 / bpm, rel=0.02)


@pytest.mark.parametrize("dotted_bpm", [50.0, 60.0, 70.0])
def test_six_eight_reads_the_dotted_quarter(dotted_bpm: float) -> None:
    # kick on each dotted quarter, soft ticks on the eighths: tapped at the kick, not the eighths
    est = tempo(six_eight(dotted_bpm), SR)
    assert est.bpm == pytest.approx(dotted_bpm, abs=1.0)
    assert est.time_signature == 4  # compound duple: see the rhythm module docstring


def test_beats_land_on_the_clicks() -> None:
    est = tempo(click_track(128.0), SR)
    beats = np.asarray(est.beat_times)
    clicks = 0.5 + np.arange(0, 42) * 60.0 / 128.0
    err = np.abs(beats[:, None] - clicks[None, :]).min(axis=1)
    assert beats.size >= 38
    # the dB flux rises as a click enters the 93-ms window, ~30 ms before it (see test_beats.py)
    assert np.median(err) < 0.04


def test_onset_rate_counts_clicks() -> None:
    est = tempo(click_track(120.0), SR)
    assert est.onset_rate == pytest.approx(2.0, rel=0.1)


def test_precomputed_inputs_give_the_same_answer() -> None:
    y = click_track(128.0)
    spec = stft_power(y, sr=SR)
    a = tempo(y, SR)
    b = tempo(spectrum=spec, mel_db=melspectrogram(spectrum=spec))
    assert a == b


def test_onset_envelope_peaks_at_clicks() -> None:
    env = onset_envelope(melspectrogram(click_track(120.0)))
    peaks = np.flatnonzero(env > 0.5 * env.max()) * 512 / SR
    assert np.all(np.min(np.abs(peaks[:, None] - (0.5 + 0.5 * np.arange(40))[None, :]), axis=1) < 0.05)


@pytest.mark.parametrize("n", [0, 22, 5000])
def test_silence_and_tiny_inputs_have_no_tempo(n: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = tempo(np.zeros(n, np.float32), SR)
    assert isinstance(est, TempoEstimate)
    assert est.bpm is None and est.time_signature is None and est.reason
    assert est.confidence == 0.0 and est.beat_times == () and math.isfinite(est.onset_rate)


@pytest.mark.parametrize(
    "name,signal,reason",
    [
        ("0.1 s", lambda: cadence(0, minor=True)[: int(0.1 * SR)], "too short"),
        ("1 s", lambda: click_track(128.0, dur=1.0), "too short"),
        ("silence", lambda: np.zeros(10 * SR, np.float32), "silent"),
        ("DC", lambda: np.full(10 * SR, 0.3, np.float32), "no pulse"),
        ("white noise", white_noise, "no pulse"),
        ("a steady tone", lambda: (0.3 * np.sin(2 * np.pi * 220.0 * np.arange(10 * SR) / SR)).astype(np.float32),
         "no pulse"),
    ],
)
def test_degenerate_inputs_have_no_tempo_and_say_why(name: str, signal, reason: str) -> None:
    est = tempo(signal(), SR)
    assert est.bpm is None, f"{name} read {est.bpm} BPM"
    assert est.reason is not None and reason in est.reason
    assert est.time_signature is None and est.beat_times == ()


def test_click_track_keeps_its_tempo_and_drums_read_one() -> None:
    # the pulse gates must not take the tempo of signals with a pulse and no pitch
    est = tempo(click_track(128.0), SR)
    assert est.bpm == pytest.approx(128.0, abs=1.0) and est.reason is None
    assert tempo(drums(120.0), SR).bpm is not None


def test_to_dict_is_plain() -> None:
    d = tempo(click_track(100.0, dur=6.0), SR).to_dict()
    assert set(d) == {"bpm", "confidence", "beat_times", "time_signature", "onset_rate", "reason"}
    assert isinstance(d["beat_times"], list) and d["time_signature"] in (3, 4) and d["reason"] is None
    silent = tempo(np.zeros(SR, np.float32), SR).to_dict()
    assert silent["bpm"] is None and silent["reason"]


def _write_corrupt(path) -> None:
    path.write_bytes(b"not a safetensors file")


def _write_onset_only_model(path) -> None:
    from audiotaste.features import _models
    from audiotaste.features.tempogram import N_LOW_BINS, N_TEMPO_BINS

    old = _models.TempoNet(12, N_TEMPO_BINS, n_low=N_LOW_BINS, width=8)  # onset tempograms only
    meta = {"n_channels": "12", "n_bins": str(N_TEMPO_BINS), "n_low": str(N_LOW_BINS), "width": "8"}
    _models.save_weights(old, path, meta)


@pytest.mark.parametrize(
    "write,reason", [(_write_corrupt, "cannot read model weights"), (_write_onset_only_model, "reads 12 channels")]
)
def test_bad_model_file_raises_model_error(tmp_path, monkeypatch, write, reason: str) -> None:
    from audiotaste.errors import ModelError
    from audiotaste.features import _models

    (tmp_path / "features").mkdir()
    write(tmp_path / "features" / "tempo.safetensors")
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(tmp_path))
    _models.load_tempo_net.cache_clear()
    try:
        with pytest.raises(ModelError, match=f"tempo.safetensors.*{reason}"):
            tempo(click_track(120.0, dur=5.0), SR)
    finally:
        _models.load_tempo_net.cache_clear()


def test_missing_model_falls_back_to_the_classical_estimate(tmp_path, monkeypatch) -> None:
    from audiotaste.features import _models

    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(tmp_path))
    _models.load_tempo_net.cache_clear()
    try:
        assert tempo(click_track(128.0), SR).bpm == pytest.approx(128.0, abs=1.0)
    finally:
        _models.load_tempo_net.cache_clear()


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.float32, st.integers(0, 4000), elements=st.floats(-1e3, 1e3, width=32)),
    st.booleans(),
)
def test_any_finite_signal_gives_a_tempo_or_a_reason(y: np.ndarray, loop: bool) -> None:
    if loop and y.size:  # repeated to 3.5 s: long enough for a tempo, so the model path runs too
        y = np.resize(y, int(3.5 * SR))
    est = tempo(y, SR)
    assert math.isfinite(est.confidence) and math.isfinite(est.onset_rate)
    assert 0.0 <= est.confidence <= 1.0
    if est.bpm is None:
        assert est.reason and est.time_signature is None and est.beat_times == ()
    else:
        assert est.reason is None and est.time_signature in (3, 4) and 25.0 <= est.bpm <= 330.0


def test_tempo_ensemble_file_loads_and_reads_a_click(tmp_path, monkeypatch) -> None:
    import torch

    from audiotaste.features import _models

    shipped = _models.load_tempo_net()
    assert shipped is not None
    net, meta = shipped
    members = list(net.members) if isinstance(net, _models.TempoEnsemble) else [net]
    # the shipped member twice: averaging two equal distributions changes nothing
    twice = _models.TempoEnsemble([members[0], members[0]])
    keep = {k: meta[k] for k in ("n_channels", "n_bins", "n_low", "width")}
    (tmp_path / "features").mkdir()
    _models.save_weights(twice, tmp_path / "features" / "tempo.safetensors", {**keep, "n_models": "2"})
    x = torch.rand(1, int(meta["n_channels"]), int(meta["n_bins"]) + int(meta["n_low"]))
    with torch.no_grad():
        single = torch.log_softmax(members[0](x)[0], dim=1)
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(tmp_path))
    _models.load_tempo_net.cache_clear()
    try:
        loaded = _models.load_tempo_net()
        assert loaded is not None and isinstance(loaded[0], _models.TempoEnsemble)
        with torch.no_grad():
            assert torch.allclose(loaded[0](x)[0], single, atol=1e-5)
        assert tempo(click_track(128.0), SR).bpm == pytest.approx(128.0, abs=1.0)
    finally:
        _models.load_tempo_net.cache_clear()


def test_repetition_features_hear_a_pattern_that_onsets_do_not() -> None:
    from audiotaste.features.tempogram import (
        feature_grid,
        repetition_features,
        spectral_levels,
        tempogram_features,
    )

    # equally loud eighths every 0.4 s whose pitches cycle every three notes (a 6/8 arpeggio):
    # the pattern repeats every 1.2 s (50 BPM), not every 0.8 s (75 BPM)
    y = np.zeros(int(20.0 * SR), np.float32)
    t = np.arange(int(0.35 * SR)) / SR
    for i in range(49):
        f0 = (110.0, 165.0, 220.0)[i % 3]
        note = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3)) * np.exp(-3 * t)
        k = int(i * 0.4 * SR)
        y[k : k + t.size] += note[: y.size - k].astype(np.float32)
    mel = melspectrogram(spectrum=stft_power(y, sr=SR))
    fps = SR / 512
    grid = feature_grid()
    at = {bpm: int(np.argmin(np.abs(grid - bpm))) for bpm in (50.0, 75.0)}
    rep = repetition_features(spectral_levels(mel), fps)
    assert rep.shape == (2, grid.size)
    assert rep[0, at[50.0]] > 0.5 and rep[0, at[50.0]] > rep[0, at[75.0]] + 0.3
    # the onset autocorrelation of the same notes barely tells the two apart
    from audiotaste.features.tempogram import onset_bands

    onsets = tempogram_features(onset_bands(mel), fps)[0][4]  # the whole-spectrum flux's ACF
    assert abs(onsets[at[50.0]] - onsets[at[75.0]]) < rep[0, at[50.0]] - rep[0, at[75.0]]



def test_harmonic_change_peaks_where_the_chord_changes() -> None:
    from audiotaste.features.tempogram import harmonic_change
    from tests.features._signals import cadence

    # I-IV-V-I, one chord a second: the change is largest at 2 s (F -> G) and 3 s (G -> C), small
    # inside a chord
    change = harmonic_change(stft_power(cadence(0, minor=False, chord_s=1.0), sr=SR))
    fps = SR / 512
    near = {t: float(change[int((t - 0.1) * fps) : int((t + 0.1) * fps)].max()) for t in (2.0, 3.0)}
    inside = float(change[int(2.3 * fps) : int(2.7 * fps)].max())
    assert min(near.values()) > 0.05 and inside < 0.2 * min(near.values())
    assert np.all((change >= 0) & (change <= 1))
    assert not harmonic_change(stft_power(np.zeros(SR, np.float32), sr=SR)).any()  # silence


@pytest.mark.parametrize(("n", "expected"), [(1, 1), (7, 8), (11, 12), (49, 50), (10336, 10368), (1025, 1080)])
def test_smooth_length_known_values(n: int, expected: int) -> None:
    from audiotaste.features.tempogram import _smooth_length

    assert _smooth_length(n) == expected


@given(st.integers(min_value=1, max_value=200_000))
def test_smooth_length_is_the_next_5_smooth_integer(n: int) -> None:
    from audiotaste.features.tempogram import _smooth_length

    def smooth(k: int) -> bool:
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        return k == 1

    out = _smooth_length(n)
    assert out >= n and smooth(out)
    assert not any(smooth(k) for k in range(n, out))
    assert out == scipy.fft.next_fast_len(n, real=True)


def test_raw_autocorrelation_is_linear_not_circular() -> None:
    from audiotaste.features.tempogram import _raw_autocorrelation

    rng = np.random.default_rng(0)
    rows = rng.standard_normal((3, 517)).astype(np.float32)
    direct = np.array([[float(np.dot(r[: r.size - lag], r[lag:])) for lag in range(40)] for r in rows])
    np.testing.assert_allclose(_raw_autocorrelation(rows, 40), direct, rtol=1e-4, atol=1e-3)


def test_a_click_faster_than_anyone_taps_reads_an_octave_down() -> None:
    # hypothesis found it: an impulse every 3,940 samples (335.8 BPM) read 334.9 BPM, above the
    # tempo range (MAX_BPM 300); it is felt, and now read, at half that
    y = np.zeros(int(3.5 * SR), np.float32)
    y[::3940] = 1.0
    est = tempo(y, SR)
    assert est.reason is None and est.bpm == pytest.approx(60 * SR / 3940 / 2, rel=0.02)
