"""Valence/arousal: mood placement on Russell's plane and the calibrated affect head."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiotaste.errors import ModelError
from audiotaste.tagger.affect import (
    MOOD_VA,
    AffectHead,
    feature_vector,
    load_affect_head,
    mood_va,
    quadrant_probs,
)


def _quadrant(v: float, a: float) -> str:
    return {(True, True): "Q1", (False, True): "Q2", (False, False): "Q3", (True, False): "Q4"}[(v > 0.5, a > 0.5)]


def test_each_mood_sits_in_its_russell_quadrant() -> None:
    expected = {"happy": "Q1", "energetic": "Q1", "tense": "Q2", "sad": "Q3", "calm": "Q4", "tender": "Q4"}
    assert {m: _quadrant(*MOOD_VA[m]) for m in expected} == expected
    # arousal orders energetic/tense above happy above tender/sad above calm
    assert MOOD_VA["tense"][1] > MOOD_VA["energetic"][1] > MOOD_VA["happy"][1] > MOOD_VA["sad"][1] > MOOD_VA["calm"][1]
    assert MOOD_VA["happy"][0] > MOOD_VA["calm"][0] > MOOD_VA["tense"][0] > MOOD_VA["sad"][0]
    for v, a in MOOD_VA.values():
        assert 0.0 <= v <= 1.0 and 0.0 <= a <= 1.0
        assert math.hypot(v - 0.5, a - 0.5) == pytest.approx(0.5)  # on the circle


def test_mood_va_is_the_probability_weighted_placement() -> None:
    assert mood_va({"happy": 1.0}) == pytest.approx(MOOD_VA["happy"])
    half = mood_va({"happy": 0.5, "sad": 0.5, "unknown": 0.9})
    assert half == pytest.approx(tuple((h + s) / 2 for h, s in zip(MOOD_VA["happy"], MOOD_VA["sad"], strict=True)))
    assert mood_va({}) == (0.5, 0.5)
    assert mood_va({"calm": 0.0}) == (0.5, 0.5)


def test_quadrant_probs_known_answer() -> None:
    q = quadrant_probs(0.8, 0.25)
    assert q == pytest.approx({"Q1": 0.2, "Q2": 0.05, "Q3": 0.15, "Q4": 0.6})
    assert sum(q.values()) == pytest.approx(1.0)


def _toy(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valence is the sign of feature 0, arousal of feature 1 (with label noise); 40 'artists'."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = np.stack([X[:, 0] + 0.3 * rng.normal(size=n) > 0, X[:, 1] + 0.3 * rng.normal(size=n) > 0], axis=1)
    return X, y.astype(int), np.arange(n) % 40


def _head(**kw: object) -> AffectHead:
    X, y, g = _toy()
    return AffectHead(C=1.0, descriptor_names=("loudness_lufs", "energy"), tag_names=("mood.calm",),
                      tagger="toy@1", **kw).fit(X, y, groups=g)  # type: ignore[arg-type]  # fmt: skip


HEAD = _head()


def test_head_learns_and_is_calibrated_on_toy_data() -> None:
    head = _head()
    X, y, _ = _toy(seed=1)
    p = head.predict_proba(X)
    assert p.shape == (len(X), 2) and ((p >= 0) & (p <= 1)).all()
    assert p[X[:, 0] > 1, 0].min() > 0.8 and p[X[:, 0] < -1, 0].max() < 0.2  # valence follows feature 0
    assert p[X[:, 1] > 1, 1].min() > 0.8 and p[X[:, 1] < -1, 1].max() < 0.2  # arousal follows feature 1
    # calibrated: the mean probability matches the positive rate within a few points
    assert abs(p[:, 0].mean() - y[:, 0].mean()) < 0.06
    # a missing descriptor (NaN) is imputed, not propagated
    x = X[:1].copy()
    x[0, 4] = np.nan
    assert np.isfinite(head.predict_proba(x)).all()


def test_head_round_trips_through_safetensors(tmp_path: Path) -> None:
    head = _head()
    head.save(tmp_path / "affect", {"name": "affect", "version": "0.0.1"})
    card = json.loads((tmp_path / "affect" / "card.json").read_text())
    assert card["tagger"] == "toy@1" and card["features"]["embedding_dim"] == 3
    again = AffectHead.load(tmp_path / "affect")
    X, _, _ = _toy(seed=2)
    np.testing.assert_allclose(again.predict_proba(X), head.predict_proba(X), atol=1e-5)
    assert load_affect_head(tmp_path / "affect").tagger == "toy@1"


def test_corrupt_or_missing_weights_are_loud(tmp_path: Path) -> None:
    folder = _head().save(tmp_path / "affect", {"name": "affect"})
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="safetensors"):
        AffectHead.load(folder)
    weights.write_bytes(b"\x00" * 16)
    with pytest.raises(ModelError, match="safetensors"):
        load_affect_head(folder)
    weights.unlink()
    with pytest.raises(ModelError, match="missing"):
        AffectHead.load(folder)


def test_weights_that_contradict_the_card_are_rejected(tmp_path: Path) -> None:
    folder = _head().save(tmp_path / "affect", {"name": "affect"})
    card = json.loads((folder / "card.json").read_text())
    card["features"]["embedding_dim"] = 5
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="'mean'"):
        AffectHead.load(folder)


def _track(head: AffectHead, **desc: float) -> dict[str, object]:
    return {
        "embedding": [0.5, -0.2, 0.1],
        "tags": {"mood": {"calm": 0.3}},
        "descriptors": {"loudness_lufs": -12.0, "energy": 0.6, **desc},
    }


def test_silence_has_no_valence_with_a_reason() -> None:
    head = _head()
    for loudness in (-math.inf, -80.0):
        out = head.predict_track(**_track(head, loudness_lufs=loudness), tagger="toy@1")  # type: ignore[arg-type]
        assert out.valence is None and out.arousal is None
        assert out.note is not None and "silent" in out.note


def test_another_taggers_features_give_none_with_a_reason() -> None:
    head = _head()
    out = head.predict_track(**_track(head), tagger="musicnn-msd@0.1.0")  # type: ignore[arg-type]
    assert out.valence is None and out.note is not None and "toy@1" in out.note
    ok = head.predict_track(**_track(head), tagger="toy@1")  # type: ignore[arg-type]
    assert ok.note is None and ok.valence is not None and 0.0 <= ok.valence <= 1.0
    short = head.predict_track(**{**_track(head), "embedding": [0.1]}, tagger="toy@1")  # type: ignore[arg-type]
    assert short.valence is None and short.note is not None


def test_feature_vector_order_and_logits() -> None:
    x = feature_vector(
        embedding=[1.0, 2.0], tags={"mood": {"calm": 0.5, "sad": 0.9}}, descriptors={"energy": 0.3, "mode": None},
        tag_names=("mood.sad", "mood.calm"), descriptor_names=("energy", "mode"),
    )  # fmt: skip
    np.testing.assert_allclose(x[:4], [1.0, 2.0, math.log(9.0), 0.0])
    assert x[4] == pytest.approx(0.3) and np.isnan(x[5])


def _tone(seconds: float, sr: int = 22050) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 440 * t * (1 + 0.1 * np.sin(t))) + 0.05 * rng.normal(size=t.size)).astype(np.float32)


def test_student_patches_equal_musicnns_own_cut_of_the_whole_signal() -> None:
    import soxr

    from audiotaste.tagger.affect import MAX_PATCHES, student_patches
    from audiotaste.tagger.musicnn_net import musicnn_logmel, musicnn_patches

    y = _tone(31.3)
    ref = musicnn_patches(musicnn_logmel(soxr.resample(y, 22050, 16000).astype(np.float32)))
    got = student_patches(y, 22050, max_patches=10)
    assert got.shape == ref.shape == (10, 187, 96)  # room for all: a 30-s clip keeps its ten
    assert student_patches(y, 22050).shape == (MAX_PATCHES, 187, 96)  # analyze's default
    assert np.abs(got - ref).max() < 0.05  # log10 units; only the resampler's window edges differ
    few = student_patches(y, 22050, max_patches=4)
    nearest = [int(np.argmin([np.abs(q - r).max() for r in ref])) for q in few]
    assert nearest == [0, 3, 6, 9]  # spread evenly, first and last included
    assert student_patches(y[:22050], 22050).shape == (1, 187, 96)  # shorter than a patch: looped


def test_shipped_head_reads_the_shipped_student_and_is_small() -> None:
    from audiotaste._paths import models_dir
    from audiotaste.tagger.affect import STUDENT, load_student

    folder = models_dir() / "affect"
    if not (folder / "card.json").is_file():
        pytest.skip("models/affect not installed")
    head = load_affect_head()
    student = load_student()
    assert head is not None and student is not None
    assert head.tagger == f"{STUDENT}@{student.version}"
    assert head.tag_names == tuple(f"tag.{t}" for t in student.labels["tag"])
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1_000_000
    metrics = head.card["metrics"]["select_half"]
    assert metrics["valence_auc"] > 0.8 and metrics["arousal_auc"] > 0.9


def test_a_clip_shorter_than_one_patch_has_no_valence() -> None:
    head = _head()
    out = head.predict_track(**{**_track(head), "descriptors": {"loudness_lufs": -12.0, "duration_s": 0.1}},
                             tagger="toy@1")  # type: ignore[arg-type]  # fmt: skip
    assert out.valence is None and out.note is not None and "too short" in out.note


@settings(max_examples=60, deadline=None)
@given(
    loudness=st.floats(allow_nan=True, allow_infinity=True),
    energy=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    emb=st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3),
)
def test_any_descriptor_values_give_a_probability_or_none_with_a_reason(
    loudness: float, energy: float | None, emb: list[float]
) -> None:
    out = HEAD.predict_track(embedding=emb, tags={"mood": {"calm": 0.5}},
                             descriptors={"loudness_lufs": loudness, "energy": energy}, tagger="toy@1")  # fmt: skip
    if out.valence is None:
        assert out.arousal is None and out.note
    else:
        assert out.arousal is not None and out.note is None
        assert 0.0 <= out.valence <= 1.0 and 0.0 <= out.arousal <= 1.0
