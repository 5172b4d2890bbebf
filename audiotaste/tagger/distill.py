"""Distilling musicnn (the teacher) into our small tagger (the student).

The teacher's labels are per 3-s patch: musicnn's 50 tag probabilities and its 200-d penultimate
layer, computed once per file and cached (:func:`teacher_labels`, :func:`cached_teacher`). The student
is :class:`~audiotaste.tagger.model.TaggerNet` on our own front end (22.05 kHz, 128 mel bands), with
``emb_dim`` set to the teacher's 200 so that its embedding can be regressed straight onto the teacher's
penultimate layer. Each teacher patch (187 frames at 16 kHz, hop 256: 2.992 s) is paired with the
student patch starting at the same time (128 frames at hop 512: 2.972 s), so the student learns
patch-level targets rather than one label per file.

Loss (``tag_loss="logit"``, the default): squared error of the student's logits against the teacher's
logits, each tag's error divided by that tag's standard deviation over the training patches, plus
``emb_weight`` times the squared error of the embedding, standardised per dimension the same way.
musicnn's MSD probabilities are small and move little (per-tag standard deviation over patches ~0.03),
so binary cross-entropy to them (``tag_loss="bce"``, soft targets) is almost all target entropy: on the
soundtracks here a student trained with it learnt each tag's mean and nothing of its variation
(validation Pearson < 0.1, see ``docs/BENCHMARKS.md`` ``## distill``). In logit space, standardised,
every tag's variation counts, as the macro metrics count it. Training (:func:`train_student`) is a plain seeded loop: epoch ``e`` shuffles and
jitters with ``numpy.random.default_rng([seed, e])`` and seeds torch with the same pair, so a run
resumed from ``checkpoint.safetensors`` ends with the same weights as one that never stopped.

The result is an ordinary model folder (``model.safetensors`` + ``card.json``) that
``audiotaste.tagger.load_model(path)`` loads; its labels are ``{"tag": [musicnn's 50 names]}`` and its
probabilities need no calibration (temperature 1: the targets were already probabilities).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from audiotaste.errors import InputError, ModelError

from .card import write_model
from .infer import Tagger
from .model import FrontEnd, TaggerNet, normalize_patches
from .musicnn import HOP_LENGTH as T_HOP
from .musicnn import PATCH_FRAMES as T_PATCH
from .musicnn import SR as T_SR
from .musicnn import musicnn_logmel, musicnn_patches

# the tagger's own resumable-run state and checkpoint format, reused rather than copied
from .train import CHECKPOINT_NAME, RunState, load_checkpoint, save_checkpoint

__all__ = [
    "TEACHER_PATCH_S",
    "StudentConfig",
    "select_patches",
    "teacher_labels",
    "cached_teacher",
    "student_starts",
    "train_student",
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
    probs, emb = teacher._run(patches[idx])
    return {
        "start_s": (idx * TEACHER_PATCH_S).astype(np.float32),
        "probs": probs.astype(np.float32),
        "emb": emb.astype(np.float32),
    }


def _key(path: Path) -> str:
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
    from .infer import _load_audio

    path = Path(path)
    key = _key(path)
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
            y = _load_audio(path, T_SR)
        lab = teacher_labels(y, teacher, max_patches=max_patches)
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.parent / f".{file.stem}.{os.getpid()}.npz"
        np.savez(tmp, start_s=lab["start_s"], probs=lab["probs"], emb=lab["emb"])
        os.replace(tmp, file)
        found[name] = lab
    return found


def student_starts(start_s: np.ndarray, n_frames: int, fe: FrontEnd) -> np.ndarray:
    """Student patch start frames for teacher patch starts (s), clipped to fit in ``n_frames``."""
    f = np.round(np.asarray(start_s, dtype=np.float64) * fe.sr / fe.hop_length).astype(np.int64)
    return np.clip(f, 0, max(n_frames - fe.patch_frames, 0))


@dataclass(frozen=True)
class StudentConfig:
    """Settings of a distillation run (recorded in the card, checked on resume).

    Attributes
    ----------
    epochs : int
        Maximum epochs (cosine learning-rate schedule over them).
    patience : int
        Stop after this many epochs without a better validation score.
    batch_size : int
        Patches per step.
    lr, weight_decay : float
        AdamW.
    tag_loss : {"logit", "bce"}
        Standardised squared error on logits, or cross-entropy to the teacher's probabilities.
    emb_weight : float
        Weight of the (standardised) embedding regression next to the tag loss.
    jitter_frames : int
        Random shift of each student patch (frames, either way) against its teacher patch.
    seed : int
    channels, strides, dropout
        :class:`TaggerNet` architecture; ``emb_dim`` is the teacher's embedding size.
    """

    epochs: int = 30
    patience: int = 6
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    tag_loss: str = "logit"
    emb_weight: float = 0.5
    jitter_frames: int = 6
    seed: int = 0
    channels: tuple[int, ...] = (16, 32, 64, 128, 128)
    strides: tuple[int, ...] = (2, 2, 2, 2, 1)
    dropout: float = 0.3


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


def _scale(targets: np.ndarray) -> np.ndarray:
    """Per-column standard deviation, floored at a tenth of the mean one so that a near-constant
    column (a tag the teacher never moves on this data) does not dominate the loss."""
    sd = targets.std(0)
    return np.maximum(sd, 0.1 * sd.mean() + 1e-6).astype(np.float32)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return (np.log(p) - np.log1p(-p)).astype(np.float32)


@dataclass
class _Items:
    """Training patches: (clip, start frame) pairs with their teacher targets."""

    clip: np.ndarray  # [n] index into mels
    start: np.ndarray  # [n] student start frame
    probs: np.ndarray  # [n, n_tags]
    emb: np.ndarray  # [n, emb_dim]


def _items(
    mels: Sequence[np.ndarray], labels: Sequence[dict[str, np.ndarray]], fe: FrontEnd
) -> _Items:
    clip, start, probs, emb = [], [], [], []
    for c, (mel, lab) in enumerate(zip(mels, labels, strict=True)):
        clip.append(np.full(len(lab["start_s"]), c))
        start.append(student_starts(lab["start_s"], mel.shape[1], fe))
        probs.append(lab["probs"])
        emb.append(lab["emb"])
    return _Items(*(np.concatenate(a) for a in (clip, start, probs, emb)))


def _patches(
    mels: Sequence[np.ndarray], clip: np.ndarray, start: np.ndarray, fe: FrontEnd
) -> np.ndarray:
    """dB patches [n, n_mels, patch_frames]; a mel shorter than a patch is wrapped, as at inference."""
    out = np.empty((len(clip), fe.n_mels, fe.patch_frames), np.float32)
    for i, (c, s) in enumerate(zip(clip, start, strict=True)):
        mel = mels[c]
        if mel.shape[1] < fe.patch_frames:
            mel = np.pad(mel, ((0, 0), (0, fe.patch_frames - mel.shape[1])), mode="wrap")
        out[i] = mel[:, s : s + fe.patch_frames]
    return out


def _track_probs(
    net: TaggerNet, mels: Sequence[np.ndarray], items: _Items, fe: FrontEnd
) -> np.ndarray:
    """Mean student probability over each clip's labelled patches, [n_clips, n_tags]."""
    net.eval()
    out = np.zeros((len(mels), items.probs.shape[1]))
    with torch.inference_mode():
        for c in range(len(mels)):
            sel = items.clip == c
            x = normalize_patches(_patches(mels, items.clip[sel], items.start[sel], fe), fe.norm)
            out[c] = torch.sigmoid(net(torch.from_numpy(x))[0]).mean(0).numpy()
    return out


def _track_teacher(n_clips: int, items: _Items) -> np.ndarray:
    return np.stack([items.probs[items.clip == c].mean(0) for c in range(n_clips)])


def train_student(
    train: tuple[Sequence[np.ndarray], Sequence[dict[str, np.ndarray]]],
    val: tuple[Sequence[np.ndarray], Sequence[dict[str, np.ndarray]]],
    out: str | os.PathLike[str],
    *,
    tags: Sequence[str],
    config: StudentConfig | None = None,
    frontend: FrontEnd | None = None,
    resume: bool = False,
    name: str = "student-musicnn",
    card_extra: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train a student on teacher labels and write it to ``out`` as a model folder.

    Parameters
    ----------
    train, val : (mels, labels)
        Student log-mels [n_mels, n_frames] (dB, :func:`audiotaste.tagger.infer.log_mel` with
        ``frontend``) and, for each, the teacher's labels (:func:`teacher_labels`).
    out : path
        Model folder (``model.safetensors``, ``card.json``, ``checkpoint.safetensors``).
    tags : sequence of str
        The teacher's tag names, in its output order.
    config, frontend
        Settings (defaults: :class:`StudentConfig`, :class:`FrontEnd`).
    resume : bool
        Continue from ``out/checkpoint.safetensors`` (same settings and data, else ``ModelError``).
    name : str
        Recorded in the card.
    card_extra : dict, optional
        More card fields (data description, command).

    Returns
    -------
    dict
        The card written. Model selection: mean of validation macro ROC-AUC (teacher's top 3 as
        positives) and mean per-tag Pearson, at track level.
    """
    cfg = config or StudentConfig()
    fe = frontend or FrontEnd()
    out = Path(out)
    tr_mels, tr_labels = train
    va_mels, va_labels = val
    if not tr_mels:
        raise InputError(out, "no training files with teacher labels")
    tr, va = _items(tr_mels, tr_labels, fe), _items(va_mels, va_labels, fe)
    emb_dim = tr.emb.shape[1]
    # per-column scales of the targets: every tag and embedding dimension weighs the same
    tr_logits = _logit(tr.probs)
    logit_scale, emb_scale = (torch.from_numpy(_scale(a)) for a in (tr_logits, tr.emb))
    va_teacher = _track_teacher(len(va_mels), va) if va_mels else None

    torch.manual_seed(cfg.seed)
    net = TaggerNet(
        len(tags),
        n_mels=fe.n_mels,
        channels=cfg.channels,
        strides=cfg.strides,
        emb_dim=emb_dim,
        dropout=cfg.dropout,
    )
    with (
        torch.no_grad()
    ):  # start at the teacher's means: the biases alone would take ~100 epochs to get there
        net.head.bias.copy_(torch.from_numpy(tr_logits.mean(0)))
        net.embed.bias.copy_(torch.from_numpy(tr.emb.mean(0)))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = RunState()
    best = {k: v.clone() for k, v in net.state_dict().items()}
    fingerprint = json.dumps(
        {
            "config": asdict(cfg),
            "frontend": fe.to_dict(),
            "n_train": len(tr.clip),
            "n_val": len(va.clip),
            "tags": list(tags),
        }
    )
    ckpt = out / CHECKPOINT_NAME
    if resume and ckpt.is_file():
        state, best = load_checkpoint(ckpt, net, opt, fingerprint)
        log(f"resumed after epoch {state.epoch}")

    bce = nn.BCEWithLogitsLoss()
    t0 = time.perf_counter()
    while state.epoch < cfg.epochs and state.bad_epochs < cfg.patience:
        epoch = state.epoch
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
        order = rng.permutation(len(tr.clip))
        jitter = rng.integers(-cfg.jitter_frames, cfg.jitter_frames + 1, len(order))
        net.train()
        losses = []
        for b in range(0, len(order), cfg.batch_size):
            sel = order[b : b + cfg.batch_size]
            if len(sel) < 2:  # batch norm needs two items
                continue
            lengths = np.array([tr_mels[c].shape[1] for c in tr.clip[sel]])
            starts = np.clip(
                tr.start[sel] + jitter[b : b + len(sel)],
                0,
                np.maximum(lengths - fe.patch_frames, 0),
            )
            x = torch.from_numpy(
                normalize_patches(_patches(tr_mels, tr.clip[sel], starts, fe), fe.norm)
            )
            logits, emb = net(x)  # [B, n_tags], [B, emb_dim]
            if cfg.tag_loss == "bce":
                loss = bce(logits, torch.from_numpy(tr.probs[sel]))
            else:
                loss = ((logits - torch.from_numpy(tr_logits[sel])) / logit_scale).square().mean()
            loss = loss + cfg.emb_weight * (
                ((emb - torch.from_numpy(tr.emb[sel])) / emb_scale).square().mean()
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        record: dict[str, float] = {"epoch": epoch + 1, "loss": float(np.mean(losses))}
        if va_teacher is not None and len(va_mels) >= 2:
            m = distill_metrics(_track_probs(net, va_mels, va, fe), va_teacher)
            record.update({"val_auc": m["macro_auc"], "val_pearson": m["mean_pearson"]})
            score = 0.5 * (m["macro_auc"] + m["mean_pearson"])
        else:
            score = -record["loss"]
        best = state.end_epoch(record, score, net, best)
        save_checkpoint(ckpt, net, opt, best, state, fingerprint)
        log(" ".join(f"{k} {v:.4g}" for k, v in record.items()))

    net.load_state_dict(best)
    card: dict[str, Any] = {
        "name": name,
        "version": "1.0.0",
        "labels": {"tag": list(tags)},
        "frontend": fe.to_dict(),
        "architecture": {
            "channels": list(cfg.channels),
            "strides": list(cfg.strides),
            "emb_dim": emb_dim,
            "dropout": cfg.dropout,
        },
        "aggregation": "track logit = mean of patch logits (non-overlapping 128-frame patches, one more "
        "aligned to the end); probability = sigmoid(logit)",
        "calibration": {
            "method": "none: trained on the teacher's probabilities",
            "temperature": {"tag": 1.0},
        },
        "training": {
            "method": "distillation on musicnn's per-patch outputs: "
            + (
                "BCE to its tag probabilities"
                if cfg.tag_loss == "bce"
                else "per-tag standardised squared error to its tag logits"
            )
            + f" + {cfg.emb_weight} x per-dimension standardised squared error to its 200-d "
            "penultimate layer",
            "n_patches": {"train": int(len(tr.clip)), "val": int(len(va.clip))},
            "n_files": {"train": len(tr_mels), "val": len(va_mels)},
            "epochs_run": state.epoch,
            "best_epoch": state.best_epoch,
            "seconds": round(time.perf_counter() - t0, 1),
            "config": asdict(cfg),
            "history": state.history,
            "torch": torch.__version__,
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "n_parameters": sum(p.numel() for p in net.parameters()),
        **(card_extra or {}),
    }
    write_model(out, net, card)
    return card


def load_student(path: str | os.PathLike[str]) -> Tagger:
    """A distilled student folder as a :class:`Tagger` (same as ``load_model(path)``)."""
    from .infer import load_model

    tagger = load_model(path)
    if not isinstance(tagger, Tagger):
        raise ModelError(path, "not a student model folder")
    return tagger
