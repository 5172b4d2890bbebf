"""The teacher's side of distillation: patch selection, the label cache, the agreement metrics."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from audiotaste.errors import InputError
from audiotaste.tagger.distill import (
    TEACHER_PATCH_S,
    cached_teacher,
    distill_metrics,
    select_patches,
)


def test_select_patches_spreads_evenly_and_keeps_short_files_whole():
    assert select_patches(10, 4).tolist() == [0, 3, 6, 9]
    assert select_patches(3, 5).tolist() == [0, 1, 2]
    assert select_patches(7, None).tolist() == list(range(7))


def test_metrics_known_answers():
    teacher = np.full((4, 4), 0.1) + 0.8 * np.eye(4)  # each track's top tag is its own
    same = distill_metrics(teacher, teacher, top_k=1)
    assert same["macro_auc"] == 1.0 and same["mean_pearson"] == pytest.approx(1.0)
    assert same["top1_agreement"] == 1.0 and same["n_auc_tags"] == 4
    flipped = distill_metrics(1.0 - teacher, teacher, top_k=1)
    assert flipped["macro_auc"] == 0.0 and flipped["mean_pearson"] == pytest.approx(-1.0)
    student = teacher.copy()
    student[:, 0] = [0.5, 0.6, 0.1, 0.1]  # the positive (0.5) beats two of three negatives
    assert distill_metrics(student, teacher, top_k=1)["macro_auc"] == pytest.approx((2 / 3 + 3) / 4)
    with pytest.raises(InputError):
        distill_metrics(teacher[:, :3], teacher)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.1, 5.0))
def test_auc_depends_only_on_each_tags_ranking(seed, power):
    # positives are per track (its top 3), so even the teacher itself need not reach 1.0
    teacher = np.random.default_rng(seed).random((8, 6))
    ceiling = distill_metrics(teacher, teacher)["macro_auc"]
    assert distill_metrics(teacher**power, teacher)["macro_auc"] == pytest.approx(ceiling)


class _FakeTeacher:
    name = "fake"

    def __init__(self):
        self.calls = 0

    def predict_and_embed_patches(self, patches):
        self.calls += 1
        level = patches.mean(axis=(1, 2))  # [n]
        return np.stack([level, -level], 1).astype(np.float32), np.repeat(level[:, None], 3, 1)


def test_teacher_cache_computes_once_and_leaves_no_temp_files(tmp_path):
    wav = tmp_path / "tone.wav"
    t = np.arange(16000 * 10) / 16000
    sf.write(wav, 0.3 * np.sin(2 * np.pi * 440 * t), 16000)
    teacher = _FakeTeacher()
    cache = tmp_path / "cache"
    assert cached_teacher(wav, ["fake"], cache, compute=False) == {}
    first = cached_teacher(wav, [teacher], cache, max_patches=2)["fake"]
    again = cached_teacher(wav, [teacher], cache)["fake"]
    assert teacher.calls == 1
    # 10 s hold 3 whole 3-s patches; two kept, the first and the last
    assert first["start_s"].tolist() == pytest.approx([0.0, 2 * TEACHER_PATCH_S])
    assert first["probs"].shape == (2, 2) and first["emb"].shape == (2, 3)
    np.testing.assert_array_equal(first["probs"], again["probs"])
    assert [p.name for p in (cache / "fake").iterdir()] == [next((cache / "fake").iterdir()).name]
    assert not list((cache / "fake").glob(".*"))
