"""Distillation: patch selection and alignment, teacher cache, metrics, a seeded resumable student run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from audiotaste.errors import InputError
from audiotaste.tagger import load_model
from audiotaste.tagger.distill import (
    TEACHER_PATCH_S,
    StudentConfig,
    cached_teacher,
    distill_metrics,
    select_patches,
    student_starts,
    train_student,
)
from audiotaste.tagger.model import FrontEnd


def test_select_patches_spreads_evenly_and_keeps_short_files_whole():
    assert select_patches(10, 4).tolist() == [0, 3, 6, 9]
    assert select_patches(3, 5).tolist() == [0, 1, 2]
    assert select_patches(7, None).tolist() == list(range(7))


def test_student_patch_starts_at_the_teacher_patch_time():
    fe = FrontEnd()
    # teacher patch 1 starts at 187 * 256 / 16000 = 2.992 s = frame 128.86 at 22050 / 512
    assert abs(TEACHER_PATCH_S - 2.992) < 1e-9
    assert student_starts(np.array([0.0, TEACHER_PATCH_S]), 10_000, fe).tolist() == [0, 129]
    # a patch that would run past the end is moved back so it fits
    assert student_starts(np.array([2 * TEACHER_PATCH_S]), 300, fe).tolist() == [300 - 128]


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

    def _run(self, patches):
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


def _toy(n_clips: int, seed: int):
    """Clips whose teacher says tag 0 when the low bands pulse, tag 1 when the high bands do."""
    rng = np.random.default_rng(seed)
    mels, labels = [], []
    for c in range(n_clips):
        low = c % 2 == 0
        mel = rng.normal(-40, 3, (128, 400)).astype(np.float32)
        rows = slice(0, 40) if low else slice(88, 128)
        # pulsed, since band normalisation removes each band's constant level
        mel[rows, (np.arange(400) // 8) % 2 == 0] += 30
        starts = np.array([0.0, TEACHER_PATCH_S, 2 * TEACHER_PATCH_S], np.float32)
        # tags low, high and two always in the top 3 (so that "low" and "high" have an AUC)
        probs = np.tile(
            np.array([0.9, 0.05, 0.5, 0.4] if low else [0.05, 0.9, 0.5, 0.4], np.float32), (3, 1)
        )
        emb = np.tile(np.array([1.0, 0.0, 0.5] if low else [0.0, 1.0, 0.5], np.float32), (3, 1))
        mels.append(mel)
        labels.append({"start_s": starts, "probs": probs, "emb": emb})
    return mels, labels


_TAGS = ["low", "high", "a", "b"]
# emb_weight 0: on so few steps the toy's 4-d embedding regression slows the tag loss down
_CFG = StudentConfig(
    epochs=8,
    patience=10,
    batch_size=4,
    lr=3e-3,
    emb_weight=0.0,
    channels=(4, 8),
    strides=(2, 2),
    seed=3,
)


def test_student_learns_the_teacher_and_loads_as_a_tagger(tmp_path):
    torch.set_num_threads(1)
    card = train_student(
        _toy(8, 0), _toy(4, 1), tmp_path / "m", tags=_TAGS, config=_CFG, log=lambda s: None
    )
    assert card["labels"] == {"tag": _TAGS}
    assert card["training"]["history"][card["training"]["best_epoch"] - 1]["val_auc"] == 1.0
    tagger = load_model(tmp_path / "m")
    assert tagger.labels == {"tag": _TAGS}
    val_mels, _ = _toy(2, 2)
    low, high = (tagger.predict_mel(m).tags["tag"] for m in val_mels)
    # the ranking of tracks per tag, as the distillation metrics score it
    assert low["low"] > high["low"] and high["high"] > low["high"]
    assert tagger.predict_mel(val_mels[0]).embedding.shape == (3,)


def test_resumed_run_ends_with_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    torch.set_num_threads(1)
    args = (_toy(6, 0), _toy(2, 1))
    cfg = dataclasses.replace(_CFG, epochs=3, emb_weight=1.0)
    train_student(*args, tmp_path / "straight", tags=_TAGS, config=cfg, log=lambda s: None)

    class Stop(Exception):
        pass

    def stop_after_two(line: str) -> None:
        if line.startswith("epoch 2 "):
            raise Stop

    with pytest.raises(Stop):
        train_student(*args, tmp_path / "cut", tags=_TAGS, config=cfg, log=stop_after_two)
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    train_student(*args, tmp_path / "cut", tags=_TAGS, config=cfg, resume=True, log=lambda s: None)
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "cut" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
