"""The track head: mood re-weighed with the key's mode — its fit, its card entry, and where it applies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from audiotaste.errors import ModelError
from audiotaste.tagger import load_model
from audiotaste.tagger.card import write_model
from audiotaste.tagger.model import TaggerNet
from audiotaste.tagger.track_head import (
    TrackHead,
    fit_track_head,
    key_mode_strength,
    track_heads_from_card,
)
from tests.features._signals import SR, cadence
from tests.tagger.test_infer import _card


def test_key_input_is_signed_by_mode_and_zero_without_a_key() -> None:
    assert key_mode_strength(mode=1, confidence=0.8) == pytest.approx(0.8)
    assert key_mode_strength(mode=0, confidence=0.8) == pytest.approx(-0.8)
    assert key_mode_strength(mode=0, confidence=0.8, key=-1) == 0.0
    assert key_mode_strength(mode=1, confidence=float("nan")) == 0.0
    assert key_mode_strength(mode=1, confidence=3.0) == 1.0


def test_the_fit_learns_what_the_mode_says_and_equals_sklearn_on_raw_inputs() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    n = 400
    minor = rng.random(n) < 0.5
    strength = np.where(minor, -1.0, 1.0) * rng.uniform(0.3, 1.0, n)
    sad = minor & (rng.random(n) < 0.8)  # "sad" mostly in minor keys
    p_cnn = np.clip(0.5 + 0.1 * sad + rng.normal(0, 0.15, n), 0.01, 0.99)  # a weak CNN
    head = fit_track_head(p_cnn[:, None], strength, sad[:, None], ["sad"], taxonomy="mood", c=1e6)
    w_logit, w_key, _ = head.weights["sad"]
    assert w_key < 0 < w_logit  # minor raises "sad"; the CNN's logit still counts
    out = np.array([head.apply({"sad": p}, s)["sad"] for p, s in zip(p_cnn, strength, strict=True)])
    assert roc_auc_score(sad, out) > roc_auc_score(sad, p_cnn) + 0.1
    # folding the standardisation back gives exactly an unregularised fit on the raw inputs
    x = np.column_stack([np.log(p_cnn / (1 - p_cnn)), strength])
    ref = LogisticRegression(C=1e6, max_iter=5000).fit(x, sad).predict_proba(x)[:, 1]
    np.testing.assert_allclose(out, ref, atol=2e-3)


def test_a_label_with_one_class_keeps_the_cnns_probability() -> None:
    head = fit_track_head(np.full((10, 2), 0.3), np.zeros(10), np.column_stack([np.zeros(10, bool), np.arange(10) < 5]),
                          ["never", "half"], taxonomy="mood")
    assert set(head.weights) == {"half"}
    assert head.apply({"never": 0.3, "half": 0.3}, 0.0)["never"] == 0.3


def test_card_round_trip_and_malformed_heads_are_model_errors() -> None:
    card = _card()
    head = TrackHead("mood", {"calm": (1.0, -0.5, 0.1)}, "test")
    card["track_head"] = {"mood": head.to_dict()}
    back = track_heads_from_card(json.loads(json.dumps(card)))["mood"]
    assert back.weights == head.weights
    for broken in (
        {"mood": {"inputs": ["logit"], "weights": {"calm": [1, 0, 0]}}},
        {"mood": {"inputs": ["logit", "key_mode_strength"], "weights": {"angry": [1, 0, 0]}}},
        {"mood": {"inputs": ["logit", "key_mode_strength"], "weights": {"calm": [1, 0]}}},
        {"mood": {"inputs": ["logit", "key_mode_strength"], "weights": {"calm": [1, "x", 0]}}},
        {"mood": {"inputs": ["logit", "key_mode_strength"], "weights": {"calm": [1, float("nan"), 0]}}},
        {"tempo": {"inputs": ["logit", "key_mode_strength"], "weights": {}}},
        {"mood": None},
    ):
        with pytest.raises(ModelError, match="track_head"):
            track_heads_from_card({**card, "track_head": broken})


@settings(max_examples=60, deadline=None)
@given(spec=st.recursive(st.none() | st.integers() | st.floats() | st.text(max_size=6),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                         max_leaves=8))
def test_any_track_head_json_loads_or_is_a_model_error(spec: object) -> None:
    try:
        heads = track_heads_from_card({**_card(), "track_head": spec})
    except ModelError:
        return
    assert all(isinstance(h, TrackHead) for h in heads.values())


def test_a_tagger_applies_its_head_in_predict_audio_and_in_analyze(tmp_path: Path) -> None:
    """A head that says "calm" exactly when the key is minor: the known answer is the key's mode."""
    import audiotaste

    torch.manual_seed(0)
    card = _card()
    card["track_head"] = {"mood": TrackHead("mood", {"calm": (0.0, -20.0, 0.0)}).to_dict()}
    folder = tmp_path / "tiny"
    write_model(folder, TaggerNet(5, channels=[4, 8], strides=[2, 2], emb_dim=16), card)
    tagger = load_model(folder)
    minor, major = cadence(0, minor=True), cadence(0, minor=False)
    assert tagger.predict_audio(minor).tags["mood"]["calm"] > 0.99
    assert tagger.predict_audio(major).tags["mood"]["calm"] < 0.01
    # genre has no head: the CNN's own numbers, the same as predict_mel's
    from audiotaste.tagger.infer import log_mel

    assert tagger.predict_audio(minor).tags["genre"] == tagger.predict_mel(log_mel(minor, tagger.frontend)).tags["genre"]
    path = tmp_path / "minor.wav"
    sf.write(path, minor, SR)
    tags = audiotaste.analyze(path, model=str(folder)).tags
    assert tags["mood"]["calm"] > 0.99
    assert tags["mood"]["happy"] == pytest.approx(tagger.predict_audio(minor).tags["mood"]["happy"], abs=1e-4)


def test_the_shipped_model_has_a_mood_head_and_major_keys_lift_happy() -> None:
    tagger = load_model("default")
    head = tagger.track_heads["mood"]
    assert set(head.weights) == set(tagger.labels["mood"])
    assert head.weights["happy"][1] > 0 and head.weights["sad"][1] < 0  # major -> happy, minor -> sad
    assert "val" in head.fitted_on and "test" not in head.fitted_on
