import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audiotaste
from audiotaste._paths import models_dir
from audiotaste.errors import AudioError, InvalidSamplesError

SR = 44100


def click_track(bpm: float, seconds: float, sr: int = SR) -> np.ndarray:
    y = np.zeros(int(seconds * sr), np.float32)
    click = (np.hanning(200) * np.sin(2 * np.pi * 2000 * np.arange(200) / sr)).astype(np.float32)
    for beat in np.arange(0.1, seconds - 0.01, 60.0 / bpm):
        start = int(beat * sr)
        y[start : start + 200] += click[: len(y) - start]
    return 0.8 * y


def test_click_track_at_128_bpm_reads_128() -> None:
    result = audiotaste.analyze((click_track(128, 20.0), SR), tags=False)
    assert result.tempo_bpm == pytest.approx(128, abs=1.0)
    ibi = np.diff(result.beat_times)
    assert np.median(ibi) == pytest.approx(60 / 128, rel=0.02)


def test_analysis_of_a_file_is_json_and_spotify_compatible(tmp_path: Path) -> None:
    path = tmp_path / "clicks.flac"
    y = click_track(100, 12.0)
    sf.write(path, np.stack([y, y]).T, SR)
    result = audiotaste.analyze(path, tags=False)
    assert result.path == str(path) and result.channels == 2 and result.sample_rate == SR
    assert result.duration_s == pytest.approx(12.0, abs=0.01)
    d = json.loads(json.dumps(result.to_dict()))
    assert d["tempo_bpm"] == pytest.approx(100, abs=1.5) and "tags" in d
    spotify = result.to_spotify()
    assert spotify["duration_ms"] == 12000 and spotify["tempo"] == pytest.approx(100, abs=1.5)
    # clicks have a tempo but no key: Spotify's "no key" code, no invented mode
    assert spotify["key"] == -1 and spotify["mode"] is None and d["key"] is None and "key: no key" in d["notes"]
    assert 0 <= spotify["energy"] <= 1 and 0 <= spotify["danceability"] <= 1


def test_silence_has_no_key_and_minus_infinite_loudness() -> None:
    result = audiotaste.analyze((np.zeros(SR * 3, np.float32), SR), tags=False)
    assert result.key is None and result.key_name is None and result.mode is None
    assert result.key_confidence == 0.0 and result.tempo_bpm is None and result.time_signature is None
    assert result.loudness_lufs == float("-inf")
    d = json.loads(json.dumps(result.to_dict()))
    assert d["loudness_lufs"] is None  # strict JSON
    assert d["tempo_bpm"] is None and d["key"] is None and d["mode"] is None
    assert d["notes"] == "tempo: silent; key: silent"
    assert result.energy == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "name,y,tempo_reason,key_reason",
    [
        ("0.1 s", np.sin(2 * np.pi * 440 * np.arange(int(0.1 * SR)) / SR).astype(np.float32), "too short",
         "too short"),
        ("1 s", click_track(128, 1.0), "too short", "too short"),
        ("DC", np.full(SR * 5, 0.3, np.float32), "no pulse", "no key"),
        ("white noise", (0.1 * np.random.default_rng(0).standard_normal(SR * 8)).astype(np.float32), "no pulse",
         "no key"),
    ],
)
def test_nothing_to_measure_gives_nulls_and_notes(name: str, y: np.ndarray, tempo_reason: str,
                                                  key_reason: str) -> None:
    result = audiotaste.analyze((y, SR), tags=False)
    assert result.tempo_bpm is None and result.key is None, name
    assert result.notes is not None
    notes = dict(n.split(": ", 1) for n in result.notes.split("; "))
    assert notes["tempo"].startswith(tempo_reason) and notes["key"].startswith(key_reason)
    d = json.loads(json.dumps(result.to_dict()))
    assert d["tempo_bpm"] is None and d["time_signature"] is None and d["key_name"] is None
    assert result.to_spotify()["tempo"] is None
    assert all(math.isfinite(v) for v in (result.energy, result.danceability, result.brightness))


def test_a_click_keeps_its_tempo_and_has_no_key() -> None:
    result = audiotaste.analyze((click_track(128, 12.0), SR), tags=False)
    assert result.tempo_bpm == pytest.approx(128, abs=1.0) and result.key is None
    assert result.notes is not None and result.notes.startswith("key: no key")


def test_silence_publishes_no_tags() -> None:
    silent = audiotaste.analyze((np.zeros(SR * 5, np.float32), SR))
    assert silent.tags == {} and silent.notes is not None and "tags: none published" in silent.notes
    # the gate is loudness, not the tagger: quiet music is still tagged
    quiet = audiotaste.analyze((0.01 * click_track(128, 5.0), SR))
    assert quiet.tags and "tags" not in (quiet.notes or "")


def test_looping_a_sample_keeps_tempo_and_key() -> None:
    path = sorted((Path(__file__).resolve().parents[1] / "sample_audio").glob("*.ogg"))[0]
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    once = audiotaste.analyze((y.T, sr), tags=False)
    thrice = audiotaste.analyze((np.tile(y.T, 3), sr), tags=False)
    assert once.key is not None and (thrice.key, thrice.mode) == (once.key, once.mode)
    assert once.tempo_bpm is not None and thrice.tempo_bpm == pytest.approx(once.tempo_bpm, rel=0.04)


def test_louder_busier_track_has_more_energy() -> None:
    rng = np.random.default_rng(0)
    quiet = 0.01 * np.sin(2 * np.pi * 220 * np.arange(SR * 8) / SR).astype(np.float32)
    loud = click_track(150, 8.0) + 0.2 * rng.standard_normal(SR * 8).astype(np.float32)
    e_quiet = audiotaste.analyze((quiet, SR), tags=False).energy
    e_loud = audiotaste.analyze((np.clip(loud, -1, 1), SR), tags=False).energy
    assert e_loud > e_quiet + 0.3


@pytest.mark.parametrize("sr", [8000, 192000])
def test_extreme_rates_and_eight_channels(sr: int) -> None:
    y = np.tile(click_track(120, 10.0, sr=sr), (8, 1))
    result = audiotaste.analyze((y, sr), tags=False)
    assert result.channels == 8 and result.sample_rate == sr
    assert result.tempo_bpm == pytest.approx(120, abs=1.5)


def test_one_millisecond_gives_finite_result() -> None:
    result = audiotaste.analyze((np.full(44, 0.1, np.float32), SR), tags=False)
    assert result.duration_s == pytest.approx(44 / SR)
    assert all(math.isfinite(v) for v in (result.energy, result.danceability, result.brightness))
    assert result.tempo_bpm is None and result.key is None and "too short" in (result.notes or "")


def test_nan_samples_are_a_clear_error() -> None:
    y = np.zeros(SR, np.float32)
    y[5] = np.nan
    with pytest.raises(InvalidSamplesError, match="NaN"):
        audiotaste.analyze((y, SR), tags=False)


def test_long_signal_is_analysed_in_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    from audiotaste.analysis import run

    monkeypatch.setattr(run, "SEGMENT_S", 5.0)
    result = audiotaste.analyze((click_track(128, 18.5), SR), tags=False)
    assert result.tempo_bpm == pytest.approx(128, abs=1.0)
    assert result.beat_times[-1] > 17.5  # beats from every segment, on one time axis (the last is 3.5 s)
    assert np.all(np.diff(result.beat_times) > 0)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "song.mp3"
    bad.write_bytes(b"ID3" + bytes(range(256)) * 4)
    with pytest.raises(AudioError) as err:
        audiotaste.analyze(bad)
    assert str(bad) in str(err.value)


def test_importing_the_result_type_does_not_load_torch() -> None:
    import subprocess
    import sys

    code = "import sys, audiotaste.analysis; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_analysis_rate_matches_the_front_end() -> None:
    from audiotaste import analysis
    from audiotaste.features import spectrum

    assert analysis.ANALYSIS_SR == spectrum.ANALYSIS_SR


def test_tags_from_the_shared_mel_equal_the_taggers_own_front_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiotaste.features.spectrum import stft_power
    from audiotaste.tagger import load_model

    # the CNN's own tags: without the genre/mood head (models/tags), which would replace them
    folder = tmp_path / "models"
    folder.mkdir()
    for child in models_dir().iterdir():
        if child.name != "tags":
            (folder / child.name).symlink_to(child.resolve())
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(folder))

    tagger = load_model("default")
    rng = np.random.default_rng(3)
    y = (click_track(110, 9.0, sr=22050) + 0.05 * rng.standard_normal(22050 * 9)).astype(np.float32)
    result = audiotaste.analyze((y, 22050))
    own = tagger.predict_spectrum(stft_power(y))
    assert result.model == f"{tagger.name}@{tagger.version}"
    assert result.tags["genre"] == pytest.approx(own.tags["genre"], abs=1e-5)
    # mood goes through the card's track head, which reads the key: as predict_audio does
    with_head = tagger.predict_audio(y)
    assert with_head.tags["mood"] != pytest.approx(own.tags["mood"], abs=1e-3)
    for taxonomy, probs in with_head.tags.items():
        for label, p in probs.items():
            assert result.tags[taxonomy][label] == pytest.approx(p, abs=1e-5)
    np.testing.assert_allclose(result.embedding, own.embedding, atol=1e-5)


# --- real-world tags (musicnn) next to ours ----------------------------------------------------------
def _musicnn_like(folder: Path, name: str, labels: list[str], seed: int) -> None:
    """A musicnn-shaped model with random weights: the real architecture and front end, no fetch."""
    import torch

    from audiotaste.tagger.musicnn import MusicnnNet, MusicnnTagger

    torch.manual_seed(seed)
    card = {"name": name, "version": "0.0-test", "labels": {"tag": labels}}
    MusicnnTagger(MusicnnNet(n_classes=len(labels)), card).save(folder / name)


@pytest.fixture
def fake_musicnn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private model cache holding musicnn-msd and musicnn-mtt look-alikes (so CI needs no PyPI)."""
    from audiotaste.analysis import load_tagger
    from audiotaste.tagger.musicnn import MSD_LABELS, MTT_LABELS

    cache = tmp_path / "cache"
    _musicnn_like(cache, "musicnn-msd", MSD_LABELS, 0)
    _musicnn_like(cache, "musicnn-mtt", MTT_LABELS, 1)
    monkeypatch.setenv("AUDIOTASTE_CACHE_DIR", str(cache))
    load_tagger.cache_clear()  # analyze caches loaded models by name
    yield cache
    load_tagger.cache_clear()


def _stereo_file(tmp_path: Path, seconds: float = 7.3) -> Path:
    rng = np.random.default_rng(5)
    left = click_track(120, seconds) + 0.05 * rng.standard_normal(int(seconds * SR)).astype(np.float32)
    right = 0.5 * click_track(90, seconds)
    path = tmp_path / "two_channels.flac"
    sf.write(path, np.stack([left, right]).T, SR)
    return path


def test_real_world_tags_are_added_next_to_ours_and_equal_musicnns_own(
    fake_musicnn: Path, tmp_path: Path
) -> None:
    from audiotaste.analysis import extra_tags
    from audiotaste.tagger import load_model
    from audiotaste.tagger.musicnn import MSD_LABELS

    path = _stereo_file(tmp_path)
    ours = audiotaste.analyze(path)
    both = audiotaste.analyze(path, extra_models=("musicnn-msd",))
    assert set(ours.tags) == {"genre", "mood"} and set(both.tags) == {"genre", "mood", "tag"}
    # adding a taxonomy changes nothing else
    assert both.tags["genre"] == ours.tags["genre"] and both.tags["mood"] == ours.tags["mood"]
    assert both.embedding == ours.embedding and both.tempo_bpm == ours.tempo_bpm
    assert both.model == ours.model
    assert both.tag_models == {**ours.tag_models, "tag": "musicnn-msd@0.0-test"}
    # musicnn heard what its own predict_file hears (16 kHz from the source, 3-s patches)
    own = load_model("musicnn-msd").predict_file(path)["tag"]
    assert list(both.tags["tag"]) == MSD_LABELS
    for label, p in own.items():
        assert both.tags["tag"][label] == pytest.approx(p, abs=1e-6)
    assert all(0.0 < p < 1.0 for p in both.tags["tag"].values())
    assert both.timings["extra_tags"] > 0 and "extra_tags" not in ours.timings
    d = json.loads(json.dumps(both.to_dict()))
    assert d["tags"]["tag"]["rock"] == pytest.approx(own["rock"]) and d["tag_models"]["tag"]
    # only the extra taxonomies, for a catalogue that already has the rest
    only = extra_tags(path, ["musicnn-msd"])
    assert set(only.tags) == {"tag"} and only.tag_models == {"tag": "musicnn-msd@0.0-test"}
    assert dict(only.tags["tag"]) == dict(both.tags["tag"])


def test_real_world_tags_of_arrays_short_clips_and_without_our_tagger(fake_musicnn: Path) -> None:
    from audiotaste.tagger import load_model

    musicnn = load_model("musicnn-msd")
    y = click_track(100, 1.2, sr=16000)  # shorter than one 3-s patch: repeated to fill it
    result = audiotaste.analyze((y, 16000), tags=False, extra_models=["musicnn-msd"])
    assert set(result.tags) == {"tag"} and result.model is None and result.embedding == ()
    own = musicnn.predict_audio(y).tags["tag"]
    assert [result.tags["tag"][k] for k in own] == pytest.approx(list(own.values()), abs=1e-6)


def test_two_models_for_one_taxonomy_are_refused_and_repeats_are_dropped(fake_musicnn: Path) -> None:
    from audiotaste.errors import ModelError

    y = (click_track(100, 4.0), SR)
    with pytest.raises(ModelError, match="'tag' is also produced by musicnn-msd"):
        audiotaste.analyze(y, extra_models=("musicnn-msd", "musicnn-mtt"))
    with pytest.raises(ModelError, match="also produced by musicnn-mtt"):
        audiotaste.analyze(y, model="musicnn-mtt", extra_models=("musicnn-msd",))
    same = audiotaste.analyze(y, model="musicnn-msd", extra_models=("musicnn-msd",))
    assert set(same.tags) == {"tag"} and same.tag_models == {"tag": "musicnn-msd@0.0-test"}


def test_without_the_fetch_analyze_works_and_asking_for_musicnn_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiotaste.analysis import load_tagger
    from audiotaste.errors import ModelError

    monkeypatch.setenv("AUDIOTASTE_CACHE_DIR", str(tmp_path / "empty"))
    load_tagger.cache_clear()
    try:
        y = (click_track(100, 4.0), SR)
        assert set(audiotaste.analyze(y).tags) == {"genre", "mood"}
        with pytest.raises(ModelError, match="audiotaste models fetch musicnn"):
            audiotaste.analyze(y, extra_models=("musicnn-msd",))
    finally:
        load_tagger.cache_clear()


def test_real_musicnn_weights_when_fetched() -> None:
    """With the real weights (``audiotaste models fetch musicnn``): same numbers as musicnn's own
    predict_file, and the ambient sample is heard as ambient. Skips where nothing was fetched."""
    from audiotaste._paths import cache_dir
    from audiotaste.tagger import load_model

    if not (cache_dir() / "musicnn-msd" / "card.json").is_file():
        pytest.skip("musicnn not fetched here (audiotaste models fetch musicnn)")
    path = Path(__file__).parents[1] / "sample_audio" / "drift_atlas-slow_tide.ogg"
    result = audiotaste.analyze(path, extra_models=("musicnn-msd",))
    own = load_model("musicnn-msd").predict_file(path)["tag"]
    assert result.tags["tag"] == pytest.approx(own, abs=1e-6)
    assert max(own, key=own.__getitem__) == "ambient"


@pytest.mark.parametrize("damage", ["missing", "truncated_weights", "garbled_card"])
def test_a_missing_or_corrupt_default_model_is_a_loud_model_error(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never a catalogue that silently lacks tags: the default model must load, or say why not."""
    import shutil

    from audiotaste._paths import models_dir
    from audiotaste.analysis import load_tagger
    from audiotaste.catalogue import AnalyzerSpec
    from audiotaste.errors import ModelError

    root = tmp_path / "models"
    root.mkdir()
    if damage != "missing":
        shutil.copytree(models_dir() / "default", root / "default")
    if damage == "truncated_weights":
        weights = root / "default" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "garbled_card":
        (root / "default" / "card.json").write_text("{not json")
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(root))
    monkeypatch.setenv("AUDIOTASTE_CACHE_DIR", str(tmp_path / "cache"))
    load_tagger.cache_clear()
    try:
        with pytest.raises(ModelError):
            audiotaste.analyze((click_track(120, 3.0), SR))
        with pytest.raises(ModelError):
            AnalyzerSpec().build()  # `audiotaste tag` stops before its first file
        assert audiotaste.analyze((click_track(120, 3.0), SR), tags=False).tags == {}  # asked for none
    finally:
        load_tagger.cache_clear()


def _nothing_and_clicks(folder: Path) -> tuple[Path, Path]:
    folder.mkdir()
    silent, clicks = folder / "silent.wav", folder / "clicks.wav"
    sf.write(silent, np.zeros(SR * 4, np.float32), SR)
    sf.write(clicks, click_track(128, 8.0), SR)
    return silent, clicks


def test_cli_json_and_table_show_nulls_with_reasons(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from audiotaste.cli import app

    silent, clicks = _nothing_and_clicks(tmp_path / "in")
    out = CliRunner().invoke(app, ["analyze", str(silent), str(clicks), "--json", "--no-tags"])
    assert out.exit_code == 0, out.output
    nothing, beat = json.loads(out.stdout)
    assert nothing["tempo_bpm"] is None and nothing["key"] is None and nothing["time_signature"] is None
    assert nothing["notes"] == "tempo: silent; key: silent"
    assert beat["tempo_bpm"] == pytest.approx(128, abs=1.0) and beat["key"] is None
    table = CliRunner().invoke(app, ["analyze", str(silent), "--no-tags"])
    assert table.exit_code == 0, table.output
    assert table.stdout.count("none (silent)") == 2  # tempo and key
    assert "nan" not in table.stdout.lower() and "Traceback" not in table.output


def test_catalogue_stores_nulls_as_nan_with_notes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from audiotaste.catalogue import Catalogue
    from audiotaste.cli import app

    _nothing_and_clicks(tmp_path / "in")
    db = tmp_path / "c.sqlite"
    out = CliRunner().invoke(app, ["tag", str(tmp_path / "in"), "--db", str(db), "--workers", "0", "--no-tags"])
    assert out.exit_code == 0, out.output
    with Catalogue.open(db) as cat:
        frame = cat.to_pandas().set_index(cat.to_pandas()["path"].map(lambda p: Path(p).name))
    assert math.isnan(frame.loc["silent.wav", "tempo_bpm"]) and math.isnan(frame.loc["silent.wav", "key"])
    assert frame.loc["silent.wav", "notes"] == "tempo: silent; key: silent"
    assert frame.loc["clicks.wav", "tempo_bpm"] == pytest.approx(128, abs=1.0)
    assert math.isnan(frame.loc["clicks.wav", "key"]) and frame.loc["clicks.wav", "notes"].startswith("key: no key")
