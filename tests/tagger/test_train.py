"""Training on tiny generated data sets: it learns, it is deterministic, it resumes, it reads every layout."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file

import audiotaste.tagger.train as train_mod
from audiotaste.errors import InputError, ModelError
from audiotaste.tagger import load_model
from audiotaste.tagger.data import read_labelled
from audiotaste.tagger.train import TrainConfig, train

SR = 22050
# a small net and few crops keep each run to a couple of seconds
FAST = TrainConfig(epochs=3, patience=5, batch_size=8, crops_per_clip=4, lr=1e-2, channels=(8, 16, 16), strides=(2, 2, 2), emb_dim=16)


def _clip(kind: str, seed: int, seconds: float = 3.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    if kind == "low":  # low notes, 3 per second (band normalisation removes a steady drone's level)
        y = 0.3 * np.sin(2 * np.pi * rng.uniform(90, 140) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    else:  # bright noise bursts
        y = 0.2 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 4 * t) > 0)
        y = np.diff(y, prepend=0.0)
    return (y + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def gtzan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/<genre>/<file>.wav, 6 clips per genre."""
    root = tmp_path_factory.mktemp("gtzan")
    for g in ("low", "high"):
        (root / g).mkdir()
        for i in range(6):
            sf.write(root / g / f"{g}.{i:05d}.wav", _clip(g, i + (100 if g == "high" else 0)), SR)
    return root


def _weights(folder: Path) -> dict[str, np.ndarray]:
    return load_file(str(folder / "model.safetensors"))


def test_trains_on_a_folder_per_label_and_tags_new_clips(gtzan: Path, tmp_path: Path) -> None:
    card = train(gtzan, tmp_path / "mine", config=FAST, cache=tmp_path / "cache", progress=False)
    assert card["labels"] == {"genre": ["high", "low"]}
    assert card["frontend"]["n_mels"] == 128 and card["frontend"]["sr"] == 22050
    assert card["n_parameters"] < 1_000_000
    assert card["training"]["epochs_run"] == 3 and len(card["training"]["history"]) == 3
    assert {"genre"} <= set(card["calibration"]["temperature"])
    for name in ("model.safetensors", "card.json", "checkpoint.safetensors"):
        assert (tmp_path / "mine" / name).is_file()
    assert not list((tmp_path / "mine").glob(".*tmp"))
    tagger = load_model(tmp_path / "mine")
    for kind, seed in (("low", 999), ("high", 1999)):
        path = tmp_path / f"new_{kind}.wav"
        sf.write(path, _clip(kind, seed, seconds=6.0), SR)
        genre = tagger.predict_file(path)["genre"]
        assert genre[kind] > 0.5 > genre[{"low": "high", "high": "low"}[kind]], genre

    # continue from the trained model (as on a grown corpus)
    one_more = TrainConfig(**{**FAST.__dict__, "epochs": 1})
    card = train(gtzan, tmp_path / "ft", config=one_more, cache=tmp_path / "cache", progress=False, init=tmp_path / "mine")
    assert card["training"]["init"] == str(tmp_path / "mine")
    wider = TrainConfig(**{**FAST.__dict__, "emb_dim": 32})
    with pytest.raises(ModelError, match="architecture"):
        train(gtzan, tmp_path / "bad", config=wider, cache=tmp_path / "cache", progress=False, init=tmp_path / "mine")


def test_training_is_deterministic_and_resume_equals_an_uninterrupted_run(
    gtzan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    train(gtzan, tmp_path / "a", config=FAST, cache=cache, progress=False)
    train(gtzan, tmp_path / "b", config=FAST, cache=cache, progress=False)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)

    # kill a run right after its second checkpoint, then resume it
    real_save, saves = train_mod.save_checkpoint, []

    def save_then_die(*args: object, **kwargs: object) -> None:
        real_save(*args, **kwargs)  # type: ignore[arg-type]
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(gtzan, tmp_path / "c", config=FAST, cache=cache, progress=False)
    assert not (tmp_path / "c" / "model.safetensors").exists()
    assert not list((tmp_path / "c").glob(".*tmp"))
    monkeypatch.setattr(train_mod, "save_checkpoint", real_save)
    # resuming with epochs = epochs done ends the run there: calibrated best weights, written
    ended = train(gtzan, tmp_path / "c", config=TrainConfig(**{**FAST.__dict__, "epochs": 2}), cache=cache, resume=True, progress=False)
    assert ended["training"]["epochs_run"] == 2 and (tmp_path / "c" / "model.safetensors").is_file()
    card = train(gtzan, tmp_path / "c", config=FAST, cache=cache, resume=True, progress=False)
    assert card["training"]["epochs_run"] == 3
    wc = _weights(tmp_path / "c")
    assert all(np.array_equal(wa[k], wc[k]) for k in wa)

    # a checkpoint from other settings is refused, not silently mixed
    other = TrainConfig(**{**FAST.__dict__, "lr": 1e-3})
    with pytest.raises(ModelError, match="other settings"):
        train(gtzan, tmp_path / "c", config=other, cache=cache, resume=True, progress=False)


def test_reads_a_csv_of_path_and_labels(gtzan: Path, tmp_path: Path) -> None:
    rows = ["path,labels"]
    for f in sorted(gtzan.rglob("*.wav")):
        mood = "mood:calm" if f.parent.name == "low" else "mood:tense"
        rows.append(f"{f.relative_to(gtzan)},genre:{f.parent.name};{mood};demo")
    # Paths relative to the CSV: without a split column the split is a hash of that path, so it must
    # not depend on where pytest puts its temporary folders (absolute paths once sent every "low"
    # clip to val, and "low" vanished from the labels).
    csv = gtzan / "mine.csv"
    csv.write_text("\n".join(rows) + "\n")
    try:
        ds = read_labelled(csv)
        assert ds.labels == {"genre": ["high", "low"], "mood": ["calm", "tense"], "tag": ["demo"]}
        assert ds.targets.shape == (12, 5)
        assert ds.targets[:, 4].all()  # every clip is "demo"
        np.testing.assert_array_equal(ds.targets[:, 1], ds.targets[:, 2])  # low <-> calm
        assert set(ds.splits) <= {"train", "val"}
        # the split is a pure function of the path
        np.testing.assert_array_equal(read_labelled(csv).splits, ds.splits)
        card = train(csv, tmp_path / "m", config=FAST, cache=tmp_path / "cache", progress=False)
        assert list(card["labels"]) == ["genre", "mood", "tag"]
    finally:
        csv.unlink()


def test_reads_the_corpus_manifest_with_relative_paths_and_splits(gtzan: Path, tmp_path: Path) -> None:
    rows = ["clip_id,path,genre,moods,split,soundfont"]
    for i, f in enumerate(sorted(gtzan.rglob("*.wav"))):
        split = ("train", "train", "val", "test")[i % 4]
        moods = "calm;sad" if f.parent.name == "low" else "energetic"
        rows.append(f"c{i},{f.parent.name}/{f.name},{f.parent.name},{moods},{split},fluid")
    (gtzan / "manifest.csv").write_text("\n".join(rows) + "\n")
    try:
        ds = read_labelled(gtzan / "manifest.csv")
    finally:
        (gtzan / "manifest.csv").unlink()
    assert ds.labels == {"genre": ["high", "low"], "mood": ["calm", "energetic", "sad"]}
    assert all(p.is_file() for p in ds.paths)
    assert (ds.splits == "test").sum() == 3
    assert ds.groups["soundfont"][0] == "fluid"


@pytest.mark.parametrize(
    "text,match",
    [
        ("file,genre\na.wav,rock\n", "path"),
        ("path,comment\na.wav,hello\n", "label column"),
        ("path,genre,split\na.wav,rock,holdout\n", "split"),
        ("path,genre,split\na.wav,rock,test\n", "no labels in the train split"),
        ("path,genre\n", "lists no files"),
    ],
)
def test_bad_manifests_say_what_is_wrong(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(InputError, match=match):
        read_labelled(tmp_path / "m.csv")


def test_missing_data_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such"):
        read_labelled(tmp_path / "absent.csv")
    (tmp_path / "m.csv").write_text("path,genre\nmissing.wav,rock\nbroken.wav,jazz\n")
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really")
    with pytest.raises(InputError, match="none of the training files"):
        train(tmp_path / "m.csv", tmp_path / "out", config=FAST, cache=tmp_path / "cache", progress=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12), min_size=1, max_size=6))
def test_any_label_text_parses_or_is_an_input_error(tmp_path: Path, cells: list[str]) -> None:
    import csv

    with open(tmp_path / "h.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "labels", "split"])
        for i, cell in enumerate(cells):
            w.writerow([f"x{i}.wav", cell, "train"])
    try:
        ds = read_labelled(tmp_path / "h.csv")
    except InputError:
        return
    names = {n for tax in ds.labels.values() for n in tax}
    assert names and all(n == n.strip() and n for n in names)
    assert ds.targets.shape == (len(ds.paths), sum(len(v) for v in ds.labels.values()))
