"""Loading taggers and tagging files: the model card contract, awkward input, the shipped model."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotaste._paths import models_dir
from audiotaste.errors import AudiotasteError, InputError, ModelError
from audiotaste.features.spectrum import melspectrogram, stft_power
from audiotaste.tagger import Tagger, load_model
from audiotaste.tagger.card import write_model
from audiotaste.tagger.infer import log_mel
from audiotaste.tagger.model import FrontEnd, TaggerNet

LABELS = {"genre": ["jazz", "rock", "techno"], "mood": ["calm", "happy"]}


def _card(**frontend: object) -> dict:
    fe = {**FrontEnd().to_dict(), **frontend}
    return {
        "name": "tiny",
        "version": "0.0.1",
        "labels": LABELS,
        "frontend": fe,
        "architecture": {"channels": [4, 8], "strides": [2, 2], "emb_dim": 16},
        "calibration": {"temperature": {"genre": 2.0, "mood": 1.0}},
    }


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    folder = tmp_path / "tiny"
    write_model(folder, TaggerNet(5, channels=[4, 8], strides=[2, 2], emb_dim=16), _card())
    return folder


def _tone(seconds: float, sr: int = 22050, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_load_model_reads_card_and_weights(model_dir: Path) -> None:
    tagger = load_model(model_dir)
    assert isinstance(tagger, Tagger)
    assert (tagger.name, tagger.version) == ("tiny", "0.0.1")
    assert tagger.labels == LABELS
    assert tagger.label_names[:2] == ("genre.jazz", "genre.rock")
    assert not list(model_dir.glob("*.tmp"))


def test_predict_mel_shapes_times_and_aggregation(model_dir: Path) -> None:
    tagger = load_model(model_dir)
    mel = melspectrogram(_tone(10.0), 22050)
    out = tagger.predict_mel(mel)
    n_frames = mel.shape[1]  # 431 frames -> patches at 0, 128, 256 and one aligned to the end
    assert out.patch_times.tolist() == pytest.approx([0.0, 128 * 512 / 22050, 256 * 512 / 22050, (n_frames - 128) * 512 / 22050])
    assert out.patch_probs.shape == (4, 5)
    assert out.embedding.shape == (16,)
    assert set(out.tags) == {"genre", "mood"} and list(out.tags["genre"]) == LABELS["genre"]
    # whole-track tag = sigmoid(mean patch logit / T): check it against the per-patch probabilities
    temp = np.array([2.0, 2.0, 2.0, 1.0, 1.0])
    patch_logits = np.log(out.patch_probs / (1 - out.patch_probs)) * temp
    expected = 1 / (1 + np.exp(-patch_logits.mean(axis=0) / temp))
    got = np.array([out.tags["genre"][k] for k in LABELS["genre"]] + [out.tags["mood"][k] for k in LABELS["mood"]])
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    np.testing.assert_allclose(tagger.predict_patches(mel), out.patch_probs, rtol=1e-6)
    json.dumps(out.to_dict())


def test_predict_spectrum_equals_predict_audio(model_dir: Path) -> None:
    tagger = load_model(model_dir)
    y = _tone(5.0)
    a = tagger.predict_spectrum(stft_power(y))
    b = tagger.predict_audio(y)
    np.testing.assert_allclose(a.patch_probs, b.patch_probs, atol=1e-5)
    with pytest.raises(ModelError, match="sr=22050"):
        tagger.predict_spectrum(stft_power(y, sr=16000))


def test_chunked_log_mel_equals_the_whole_track_mel() -> None:
    rng = np.random.default_rng(0)
    y = (_tone(7.3) + 0.05 * rng.standard_normal(int(7.3 * 22050))).astype(np.float32)
    whole = melspectrogram(y, 22050)
    chunked = log_mel(y, FrontEnd(), chunk_frames=37)
    assert chunked.shape == whole.shape
    np.testing.assert_allclose(chunked, whole, atol=1e-2)


@pytest.mark.parametrize(
    "signal,sr",
    [
        (np.zeros(22050 * 5, dtype=np.float32), 22050),  # digital silence
        (_tone(1.0), 22050),  # shorter than one patch: looped
        (_tone(4.0, sr=8000, freq=300.0), 8000),  # telephone-band input
        (_tone(0.01), 22050),  # a few samples
    ],
    ids=["silence", "1s", "8kHz", "10ms"],
)
def test_awkward_files_get_sensible_tags(model_dir: Path, tmp_path: Path, signal: np.ndarray, sr: int) -> None:
    path = tmp_path / "clip.wav"
    sf.write(path, signal, sr)
    tags = load_model(model_dir).predict_file(path)
    assert set(tags) == {"genre", "mood"}
    probs = [p for head in tags.values() for p in head.values()]
    assert len(probs) == 5 and all(0.0 <= p <= 1.0 for p in probs)


def test_a_long_track_is_processed_in_bounded_batches(model_dir: Path) -> None:
    tagger = load_model(model_dir)
    mel = np.random.default_rng(0).normal(-40, 10, size=(128, 128 * 300)).astype(np.float32)  # ~15 min
    out = tagger.predict_mel(mel)
    assert out.patch_probs.shape == (300, 5) and np.isfinite(out.patch_probs).all()


def test_bad_mel_input_is_an_input_error(model_dir: Path) -> None:
    tagger = load_model(model_dir)
    mel = np.zeros((128, 200), dtype=np.float32)
    mel[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        tagger.predict_mel(mel)
    with pytest.raises(InputError, match="128"):
        tagger.predict_patches(np.zeros((96, 200), dtype=np.float32))
    with pytest.raises(InputError):
        tagger.predict_patches(np.zeros((0, 128, 128), dtype=np.float32))


def test_missing_file_is_an_audio_error(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(AudiotasteError) as err:
        load_model(model_dir).predict_file(tmp_path / "nope.wav")
    assert "nope.wav" in str(err.value)


def test_front_end_mismatch_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m16k"
    write_model(folder, TaggerNet(5, channels=[4, 8], strides=[2, 2], emb_dim=16), _card(sr=16000))
    with pytest.raises(ModelError, match="sr=16000"):
        load_model(folder)


def test_weights_that_do_not_match_the_card_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "wrong"
    write_model(folder, TaggerNet(7, channels=[4, 8], strides=[2, 2], emb_dim=16), _card())
    with pytest.raises(ModelError, match="do not match"):
        load_model(folder)


def test_corrupt_or_missing_files_are_model_errors(model_dir: Path, tmp_path: Path) -> None:
    (model_dir / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="safetensors"):
        load_model(model_dir)
    (model_dir / "card.json").write_text("{not json")
    with pytest.raises(ModelError, match="card"):
        load_model(model_dir)
    with pytest.raises(ModelError, match="no such tagger model"):
        load_model(tmp_path / "absent")
    with pytest.raises(ModelError, match="no such tagger model"):
        load_model("no-such-name")


def test_models_are_found_by_name_in_the_models_dir(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(model_dir.parent))
    assert load_model("tiny").name == "tiny"


def test_musicnn_names_route_to_the_port_or_say_how_to_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "audiotaste.tagger.musicnn", None)  # as if the port were absent
    with pytest.raises(ModelError, match="models fetch musicnn"):
        load_model("musicnn-msd")


def test_models_list_command(model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from audiotaste.cli.tagger import register

    app = typer.Typer()
    register(app)
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(model_dir.parent))
    monkeypatch.setenv("AUDIOTASTE_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "tiny" in result.output and "0.0.1" in result.output and "3 genre" in result.output


# --- the shipped model ------------------------------------------------------------------------------
SHIPPED = models_dir() / "default"


@pytest.mark.skipif(not (SHIPPED / "card.json").is_file(), reason="models/default not trained yet")
def test_shipped_default_model_loads_and_is_small() -> None:
    tagger = load_model("default")
    assert tagger.name == "default"
    assert set(tagger.labels) >= {"genre", "mood"}
    assert len(tagger.labels["genre"]) >= 12 and len(tagger.labels["mood"]) >= 6
    assert sum(p.numel() for p in tagger.net.parameters()) < 1_000_000
    assert (SHIPPED / "model.safetensors").stat().st_size <= 5 * 2**20
    assert tagger.card["metrics"]["test"]["genre"]["macro_auc"] > 0.8


SAMPLES = Path(__file__).resolve().parents[2] / "sample_audio"


@pytest.mark.skipif(
    not (SHIPPED / "card.json").is_file() or not (SAMPLES / "tracks.csv").is_file(),
    reason="needs models/default and sample_audio/",
)
def test_shipped_model_names_the_genre_of_the_sample_clips() -> None:
    import pandas as pd

    tagger = load_model("default")
    tracks = pd.read_csv(SAMPLES / "tracks.csv")
    top1 = top3 = 0
    for row in tracks.itertuples():
        genre = tagger.predict_file(SAMPLES / row.file)["genre"]
        ranked = sorted(genre, key=genre.__getitem__, reverse=True)
        top1 += ranked[0] == row.genre
        top3 += row.genre in ranked[:3]
    # 12 clips of 12 genres: chance is 1 right; the shipped model gets 11 (top-1) and 11 (top-3)
    assert top1 >= 8 and top3 >= 10, (top1, top3)
