"""``analyze`` publishes genre and mood from the shipped genre/mood head (models/tags)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import audiotaste
from audiotaste._paths import models_dir
from audiotaste.errors import ModelError

SAMPLES = Path(__file__).resolve().parent.parent / "sample_audio"
pytestmark = pytest.mark.skipif(
    not all((models_dir() / m / "card.json").is_file() for m in ("tags", "default", "affect", "musicnn-msd-student")),
    reason="needs the shipped default tagger, student, affect and genre/mood heads",
)


def _head_id() -> str:
    card = json.loads((models_dir() / "tags" / "card.json").read_text())
    return f"{card['name']}@{card['version']}"


def _models_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tags_card: dict | None = None,
                 weights: bytes | None = None) -> None:  # fmt: skip
    """A models folder like the shipped one whose tags/ head gets the given card or weights."""
    folder = tmp_path / "models"
    folder.mkdir()
    for child in models_dir().iterdir():
        if child.name != "tags":
            (folder / child.name).symlink_to(child.resolve())
    shutil.copytree(models_dir() / "tags", folder / "tags")
    if tags_card is not None:
        (folder / "tags" / "card.json").write_text(json.dumps(tags_card))
    if weights is not None:
        (folder / "tags" / "model.safetensors").write_bytes(weights)
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(folder))


def test_sample_tracks_read_their_genre() -> None:
    """Our rendered samples (genre known exactly): the head keeps the CNN's answers on music like
    our renders (the bar on the unseen-font test is 0.95 ROC-AUC)."""
    with (SAMPLES / "tracks.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    right = 0
    for row in rows:
        a = audiotaste.analyze(SAMPLES / row["file"])
        assert a.tag_models["genre"] == a.tag_models["mood"] == _head_id()
        assert a.model == f"default@{json.loads((models_dir() / 'default' / 'card.json').read_text())['version']}+{_head_id()}"
        genre = a.tags["genre"]
        assert len(genre) == 13 and len(a.tags["mood"]) == 6
        assert all(0.0 <= p <= 1.0 for p in [*genre.values(), *a.tags["mood"].values()])
        right += max(genre, key=genre.__getitem__) == row["genre"]
    assert right >= len(rows) - 2


def test_a_head_fitted_on_another_cnn_leaves_the_cnns_tags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    card = json.loads((models_dir() / "tags" / "card.json").read_text())
    _models_with(tmp_path, monkeypatch, tags_card={**card, "cnn": "default@0.0.1"})
    a = audiotaste.analyze(SAMPLES / "pulse_division-neon_runner.ogg")
    assert a.tag_models["genre"] == a.model == a.tag_models["mood"]


def test_a_broken_head_is_a_loud_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _models_with(tmp_path, monkeypatch, weights=b"\x00" * 64)
    with pytest.raises(ModelError, match="genre/mood head"):
        audiotaste.analyze(SAMPLES / "pulse_division-neon_runner.ogg")


def test_silence_gets_no_tags_from_the_head() -> None:
    a = audiotaste.analyze((np.zeros(5 * 22050, np.float32), 22050))
    assert "genre" not in a.tags and "mood" not in a.tags
    assert a.notes is not None and "silent" in a.notes


@pytest.mark.parametrize(
    ("name", "seconds", "make"),
    [
        ("white noise", 10.0, lambda n, rng: 0.3 * rng.standard_normal(n)),
        ("0.1-s clip", 0.1, lambda n, rng: 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 22050)),
        ("1-s chord", 1.0, lambda n, rng: 0.2 * sum(np.sin(2 * np.pi * f * np.arange(n) / 22050) for f in (262, 330, 392))),
    ],
)
def test_what_the_taggers_cannot_judge_gets_no_confident_tag(name: str, seconds: float, make) -> None:  # type: ignore[no-untyped-def]
    """Before the flag, white noise read energetic 0.99 and a 0.1-s tone tense 0.97."""
    y = make(int(seconds * 22050), np.random.default_rng(0)).astype(np.float32)
    a = audiotaste.analyze((y, 22050))
    assert a.notes is not None and "genre/mood: low confidence" in a.notes, name
    for probs in a.tags.values():
        assert all(0.25 < p < 0.75 for p in probs.values()), (name, probs)


def test_speech_gets_no_key_and_no_confident_tag() -> None:
    """Before the speech check (features.nonmusic), a speech-like signal read electronic 0.89 and a key."""
    from tests.features._signals import SR, speech_like

    a = audiotaste.analyze((speech_like(dur=12.0), SR))
    assert a.key is None and a.key_name is None and a.mode is None
    assert a.notes is not None and "key: no key: speech" in a.notes
    assert "genre/mood: low confidence, speech" in a.notes
    for probs in a.tags.values():
        assert all(0.25 < p < 0.75 for p in probs.values()), probs
    out = a.to_dict()
    assert out["key"] is None and "genre/mood: low confidence, speech" in out["notes"]


def test_drums_get_no_key_but_keep_their_tags() -> None:
    """Percussion alone has no key; its tags are not the speech flag's business (a groove has a genre)."""
    from tests.features._signals import SR, drums

    a = audiotaste.analyze((drums(dur=12.0), SR))
    assert a.key is None and a.notes is not None and "key: no key: percussion only" in a.notes
    assert "low confidence, speech" not in a.notes


def test_music_is_not_flagged() -> None:
    a = audiotaste.analyze(SAMPLES / "pulse_division-neon_runner.ogg")
    assert "low confidence" not in (a.notes or "")
    assert max(a.tags["genre"].values()) > 0.8


def test_the_catalogue_retags_when_the_head_is_new(tmp_path: Path) -> None:
    """A catalogue written before the head (model "default@1.5.0") is re-analysed by --retag: the
    worker's model id names the head too."""
    from audiotaste.catalogue.work import AnalyzerSpec

    _, model_id = AnalyzerSpec(tags=True, model=None, extra_models=()).build()
    assert model_id is not None and model_id.endswith("+" + _head_id())
    assert model_id == audiotaste.analyze(SAMPLES / "pulse_division-neon_runner.ogg").model


def test_cli_json_says_speech_is_speech(tmp_path: Path) -> None:
    """``audiotaste analyze --json`` shows the speech notes and a null key."""
    import soundfile as sf
    from typer.testing import CliRunner

    from audiotaste.cli import app
    from tests.features._signals import SR, speech_like

    path = tmp_path / "reading.wav"
    sf.write(path, speech_like(dur=12.0), SR)
    out = CliRunner().invoke(app, ["analyze", str(path), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)  # one file: one object
    assert result["key"] is None and result["mode"] is None
    assert "key: no key: speech" in result["notes"] and "genre/mood: low confidence, speech" in result["notes"]
