"""The genre/mood head: fitting on soft and partial targets, two experts, persistence, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiotaste.errors import ModelError
from audiotaste.tagger.tag_head import (
    GENRES,
    MOODS,
    TagHead,
    input_vector,
    load_tag_head,
    stack_features,
)


def _cached(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "affect_emb": rng.normal(size=(n, 200)),
        "affect_tags": rng.uniform(0.01, 0.99, size=(n, 50)),
        "desc": rng.normal(size=(n, 11)),
        "default_emb": rng.normal(size=(n, 128)),
        "default_tags": rng.uniform(0.01, 0.99, size=(n, 19)),
    }


def _task(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label j is on when input column j is positive: every label has one informative input."""
    rng = np.random.default_rng(seed)
    X = stack_features(_cached(n, rng))
    Y = (X[:, : len(GENRES) + len(MOODS)] > 0).astype(float)
    return X, Y


def test_learns_each_label_from_its_own_input() -> None:
    X, Y = _task(n=3000)
    head = TagHead(experts=1, l2=1e-3, epochs=300).fit(X[:2500], Y[:2500], np.ones_like(Y[:2500]))
    P = head.predict_proba(X[2500:])
    accuracy = ((P > 0.5) == (Y[2500:] > 0.5)).mean(axis=0)
    assert accuracy.min() > 0.8  # chance is 0.5; 667 inputs, 2,500 rows


def test_masked_cells_teach_nothing() -> None:
    """A label whose every target is masked out stays at its initial, uninformed guess."""
    X, Y = _task()
    M = np.ones_like(Y)
    M[:, 0] = 0.0
    Y[:, 0] = 1.0  # would pull label 0 up everywhere if it counted
    head = TagHead(experts=1, l2=1e-4, epochs=300).fit(X, Y, M)
    P = head.predict_proba(X)
    assert abs(P[:, 0].mean() - 0.5) < 0.2
    assert ((P[:, 1] > 0.5) == (Y[:, 1] > 0.5)).mean() > 0.9


def test_soft_targets_give_matching_probabilities() -> None:
    """A constant soft target of 0.3 is learnt as a probability near 0.3."""
    X, Y = _task()
    Y[:, 2] = 0.3
    head = TagHead(experts=1, l2=1e-2, epochs=400).fit(X, Y, np.ones_like(Y))
    assert head.predict_proba(X)[:, 2].mean() == pytest.approx(0.3, abs=0.05)


def test_save_load_round_trip(tmp_path: Path) -> None:
    X, Y = _task()
    head = TagHead(experts=2, l2=1e-3, epochs=50).fit(X, Y, np.ones_like(Y))
    head.save(tmp_path, {"name": "tags", "version": "0.0.1"})
    again = TagHead.load(tmp_path)
    assert again.labels == head.labels and again.experts == 2
    np.testing.assert_allclose(again.predict_proba(X[:20]), head.predict_proba(X[:20]), atol=1e-5)
    # a head saved without a domain classifier or prior blend (models/tags 1.0.0) reads as before
    assert again.domain_ is None and again.blend_ is None
    np.testing.assert_allclose(again.decision_function(X[:20]), again.mixture_logits(X[:20]))


def test_input_vector_matches_the_cached_rows() -> None:
    rng = np.random.default_rng(3)
    a = _cached(1, rng)
    names = ["tempo_bpm", "tempo_confidence", "mode", "key_confidence", "loudness_lufs", "loudness_range_lu",
             "energy", "danceability", "brightness", "onset_rate", "dynamic_complexity"]  # fmt: skip
    x = input_vector(
        student_embedding=a["affect_emb"][0], student_tags=a["affect_tags"][0],
        descriptors=dict(zip(names, a["desc"][0], strict=True)), cnn_embedding=a["default_emb"][0],
        cnn_tags=a["default_tags"][0],
    )  # fmt: skip
    np.testing.assert_allclose(x, stack_features(a)[0])
    missing = input_vector(student_embedding=a["affect_emb"][0], student_tags=a["affect_tags"][0],
                           descriptors={"tempo_bpm": None}, cnn_embedding=a["default_emb"][0],
                           cnn_tags=a["default_tags"][0])  # fmt: skip
    assert np.isnan(missing[250]) and missing.shape == (427,)


def test_no_head_installed_is_none_and_a_broken_one_is_loud(tmp_path: Path) -> None:
    assert load_tag_head(tmp_path / "absent") is None
    broken = tmp_path / "tags"
    broken.mkdir()
    (broken / "card.json").write_text("{}")
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="tags"):
        load_tag_head(broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="incomplete"):
        load_tag_head(broken)


def test_two_experts_learn_two_domains_one_linear_head_cannot() -> None:
    """Label 0 follows input 0 on one kind of music and input 1 on the other (as the CNN is right on
    renders and the student on records); a domain marker says which. The gated mixture learns both;
    one linear map cannot (every other input is constant)."""
    rng = np.random.default_rng(4)
    a = {k: np.full_like(v, 0.5) for k, v in _cached(3000, rng).items()}
    a["affect_emb"][:, :2] = rng.normal(size=(3000, 2))
    domain = rng.random(3000) < 0.5
    a["desc"][:, 0] = np.where(domain, 3.0, -3.0)
    X = stack_features(a)
    Y = np.zeros((3000, len(GENRES) + len(MOODS)))
    Y[:, 0] = np.where(domain, X[:, 0] > 0, X[:, 1] > 0)
    M = np.zeros_like(Y)
    M[:, 0] = 1.0
    accuracy = {}
    for k in (1, 2):
        head = TagHead(experts=k, l2=1e-3, epochs=400).fit(X[:2500], Y[:2500], M[:2500])
        accuracy[k] = ((head.predict_proba(X[2500:])[:, 0] > 0.5) == (Y[2500:, 0] > 0.5)).mean()
    assert accuracy[1] < 0.8 < 0.95 < accuracy[2]


def _blend_task(n: int = 3000, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Jazz follows the student prior (true Platt slope 2, intercept -1) and the head's out-of-fold
    logit is noise; rock follows the head's logit and its prior is noise. Half the rows are
    recordings, marked by a descriptor of +3 (renders -3), as the domain classifier must learn."""
    rng = np.random.default_rng(seed)
    a = _cached(n, rng)
    real = rng.random(n) < 0.5
    a["desc"][:, 0] = np.where(real, 3.0, -3.0)
    X = stack_features(a)
    jazz, rock = GENRES.index("jazz"), GENRES.index("rock")
    n_labels = len(GENRES) + len(MOODS)
    X[:, -n_labels + jazz] = rng.normal(scale=1.5, size=n)  # the student prior columns come last
    X[:, -n_labels + rock] = rng.normal(scale=1.5, size=n)
    Z = rng.normal(size=(n, n_labels))
    Y = np.zeros((n, n_labels))
    Y[:, jazz] = rng.random(n) < 1 / (1 + np.exp(-(2 * X[:, -n_labels + jazz] - 1)))
    Z[:, rock] = 3 * rng.normal(size=n)
    Y[:, rock] = rng.random(n) < 1 / (1 + np.exp(-Z[:, rock]))
    M = np.zeros_like(Y)
    M[:, [jazz, rock]] = 1.0
    return X, Y, M, Z, real


def test_prior_blend_trusts_the_prior_only_where_it_beats_the_head() -> None:
    X, Y, M, Z, real = _blend_task()
    jazz, rock = GENRES.index("jazz"), GENRES.index("rock")
    head = TagHead(experts=1, epochs=5).fit(X, Y, M, real=real)
    head.fit_prior_blend(X[real], Z[real], np.ones(real.sum()), Y[real], M[real])
    assert head.blend_ is not None and head.prior_cal_ is not None
    assert head.blend_[jazz] == 1.0 and head.blend_[rock] == 0.0
    np.testing.assert_allclose(head.prior_cal_[:, jazz], [2.0, -1.0], atol=0.3)
    # labels outside the default set (no student name, or a mood) never blend
    assert head.blend_[GENRES.index("latin")] == 0.0 and not head.blend_[len(GENRES):].any()


def test_prior_blend_is_off_on_renders_and_on_where_recorded() -> None:
    X, Y, M, Z, real = _blend_task()
    jazz = GENRES.index("jazz")
    # a weakly regularised domain classifier: one clean marker, so its probabilities go to 0 and 1
    head = TagHead(experts=1, epochs=5, domain_c=10.0).fit(X, Y, M, real=real)
    d = head.real_weight(X)
    assert d[real].min() > 0.99 and d[~real].max() < 0.01
    head.fit_prior_blend(X[real], Z[real], d[real], Y[real], M[real])
    assert head.prior_cal_ is not None
    z, mix = head.decision_function(X), head.mixture_logits(X)
    calibrated = head.prior_cal_[0, jazz] * X[:, -(len(GENRES) + len(MOODS)) + jazz] + head.prior_cal_[1, jazz]
    np.testing.assert_allclose(z[real, jazz], calibrated[real], atol=0.05)  # blend weight 1 on recordings
    np.testing.assert_allclose(z[~real], mix[~real], atol=0.05)  # renders: the experts alone


def test_prior_blend_round_trip_and_its_preconditions(tmp_path: Path) -> None:
    X, Y, M, Z, real = _blend_task(n=1000)
    with pytest.raises(ValueError, match="real="):
        TagHead(experts=1, epochs=5).fit(X, Y, M).fit_prior_blend(X, Z, np.ones(len(X)), Y, M)
    head = TagHead(experts=2, epochs=5).fit(X, Y, M, real=real)
    head.fit_prior_blend(X[real], Z[real], head.real_weight(X[real]), Y[real], M[real])
    head.save(tmp_path, {"name": "tags", "version": "0.0.2"})
    again = TagHead.load(tmp_path)
    assert again.blend_ is not None and again.domain_ is not None
    np.testing.assert_allclose(again.predict_proba(X[:50]), head.predict_proba(X[:50]), atol=1e-5)
    # refitting drops the blend: it was chosen for the old head's out-of-fold logits
    assert head.fit(X, Y, M, real=real).blend_ is None
