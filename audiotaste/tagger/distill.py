"""The teacher's side of distilling musicnn: its per-patch labels, cached, and how well a student agrees.

The teacher's labels are per 3-s patch: musicnn's 50 tag probabilities and its 200-d penultimate
layer, computed once per file and cached (:func:`teacher_labels`, :func:`cached_teacher`); the
student's agreement with the teacher over whole tracks is :func:`distill_metrics`. The student itself
(a pruned musicnn fine-tuned on the teacher's outputs) is :mod:`audiotaste.tagger.pruned`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiotaste._io import atomic_path
from audiotaste.errors import InputError

from .base import load_mono
from .musicnn_net import HOP_LENGTH as T_HOP
from .musicnn_net import PATCH_FRAMES as T_PATCH
from .musicnn_net import SR as T_SR
from .musicnn_net import musicnn_logmel, musicnn_patches

__all__ = [
    "TEACHER_PATCH_S",
    "cache_key",
    "select_patches",
    "teacher_labels",
    "cached_teacher",
    "teacher_patch_index",
    "distill_metrics",
]

#: Seconds between the starts of musicnn's non-overlapping patches.
TEACHER_PATCH_S = T_PATCH * T_HOP / T_SR


def select_patches(n_patches: int, max_patches: int | None) -> np.ndarray:
    """Indices of at most ``max_patches`` patches spread evenly over a file (all when ``None``)."""
    if max_patches is None or n_patches <= max_patches:
        return np.arange(n_patches, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n_patches - 1, max_patches)).astype(np.int64))


def teacher_labels(
    y16k: np.ndarray, teacher: Any, *, max_patches: int | None = None
) -> dict[str, np.ndarray]:
    """The teacher's per-patch outputs on a 16 kHz mono signal.

    Parameters
    ----------
    y16k : np.ndarray [n_samples]
        Mono signal at 16 kHz.
    teacher : MusicnnTagger
        From :func:`audiotaste.tagger.musicnn.load_musicnn`.
    max_patches : int, optional
        Keep at most this many 3-s patches, evenly spaced (bounds the cost of long files).

    Returns
    -------
    dict
        ``start_s`` [n] patch starts (s), ``probs`` [n, 50] and ``emb`` [n, 200], float32.
    """
    patches = musicnn_patches(musicnn_logmel(y16k))
    idx = select_patches(len(patches), max_patches)
    probs, emb = teacher.predict_and_embed_patches(patches[idx])
    return {
        "start_s": (idx * TEACHER_PATCH_S).astype(np.float32),
        "probs": probs.astype(np.float32),
        "emb": emb.astype(np.float32),
    }


def teacher_patch_index(start_s: np.ndarray) -> np.ndarray:
    """Indices into ``musicnn_patches(logmel)`` of the patches :func:`teacher_labels` labelled at
    ``start_s`` (s): the student is scored on exactly the teacher's patches."""
    return np.round(np.asarray(start_s, np.float64) / TEACHER_PATCH_S).astype(np.int64)


def cache_key(path: Path) -> str:
    """The name of a file's teacher labels (and mel) in a cache: a hash of its absolute path."""
    return hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:20]


def cached_teacher(
    path: str | os.PathLike[str],
    teachers: Sequence[Any],
    cache: str | os.PathLike[str],
    *,
    max_patches: int | None = None,
    compute: bool = True,
) -> dict[str, dict[str, np.ndarray]]:
    """:func:`teacher_labels` of an audio file for each teacher, kept as
    ``<cache>/<teacher name>/<key>.npz``.

    The key is the file's absolute path (the soundtracks and the corpus do not change in place). The
    file is decoded once for all teachers that lack it; each result is written to a temporary name
    and renamed, so a killed run never leaves half of one. With ``compute=False`` only cached results
    are returned. ``teachers`` may hold teacher names instead of models when ``compute=False``.

    Returns
    -------
    dict
        Teacher name -> labels, for the teachers that have them.
    """
    path = Path(path)
    key = cache_key(path)
    found: dict[str, dict[str, np.ndarray]] = {}
    y = None
    for teacher in teachers:
        name = teacher if isinstance(teacher, str) else str(teacher.name)
        file = Path(cache) / name / f"{key}.npz"
        if file.is_file():
            with np.load(file, allow_pickle=False) as z:
                found[name] = {k: z[k] for k in z.files}
            continue
        if not compute or isinstance(teacher, str):
            continue
        if y is None:
            y = load_mono(path, T_SR)
        lab = teacher_labels(y, teacher, max_patches=max_patches)
        with atomic_path(file) as tmp, open(tmp, "wb") as f:
            np.savez(f, start_s=lab["start_s"], probs=lab["probs"], emb=lab["emb"])
        found[name] = lab
    return found


def distill_metrics(
    student: np.ndarray, teacher: np.ndarray, *, top_k: int = 3
) -> dict[str, float]:
    """How well track-level student probabilities follow the teacher's.

    Parameters
    ----------
    student, teacher : np.ndarray [n_tracks, n_tags]
        Track-level probabilities.
    top_k : int
        The teacher's ``top_k`` tags of each track are its positives for the ROC-AUC.

    Returns
    -------
    dict
        ``macro_auc`` (mean over tags that have positives and negatives; ``n_auc_tags`` of them),
        ``mean_pearson`` (per-tag correlation across tracks, mean over tags whose teacher and student
        values vary; ``n_pearson_tags``), and ``top1_agreement``.
    """
    from sklearn.metrics import roc_auc_score

    student, teacher = np.asarray(student, np.float64), np.asarray(teacher, np.float64)
    if student.shape != teacher.shape or student.ndim != 2 or len(student) < 2:
        raise InputError(
            None,
            f"need two [n_tracks >= 2, n_tags] arrays, got {student.shape} and {teacher.shape}",
        )
    pos = np.zeros_like(teacher, dtype=bool)
    np.put_along_axis(pos, np.argsort(-teacher, axis=1)[:, :top_k], True, axis=1)
    aucs = [
        float(roc_auc_score(pos[:, j], student[:, j]))
        for j in range(teacher.shape[1])
        if 0 < pos[:, j].sum() < len(pos)
    ]
    rs = [
        float(np.corrcoef(student[:, j], teacher[:, j])[0, 1])
        for j in range(teacher.shape[1])
        if student[:, j].std() > 1e-9 and teacher[:, j].std() > 1e-9
    ]
    return {
        "macro_auc": float(np.mean(aucs)) if aucs else float("nan"),
        "n_auc_tags": len(aucs),
        "mean_pearson": float(np.mean(rs)) if rs else float("nan"),
        "n_pearson_tags": len(rs),
        "top1_agreement": float(np.mean(student.argmax(1) == teacher.argmax(1))),
    }


















