"""Valence and arousal: our moods on Russell's plane, and a head that reads both from a tagged track.

Two things live here.

- :data:`MOOD_VA` places each of the default tagger's six moods on Russell's (1980) circumplex, as
  (valence, arousal) in [0, 1]; :func:`mood_va` turns a track's mood probabilities into a point on the
  plane. This is the *interpretation* of our moods, used to explain and to map them, not a model.
- :class:`AffectHead` is the learned model: two logistic regressions (valence positive vs negative,
  arousal high vs low) on features that ``analyze`` computes anyway (the default tagger's embedding
  and tag logits, the loudness/tempo/mode/energy descriptors), each followed by a Platt scaling fitted
  on out-of-fold predictions, so ``valence`` and ``arousal`` are calibrated probabilities: ``valence``
  is the probability that listeners call the track positive (Spotify's sense: high = happy, cheerful,
  euphoric; low = sad, depressed, angry), ``arousal`` that they call it energetic rather than calm.

Inference is numpy only (no torch, no scikit-learn), so the head costs microseconds. The model folder
(``models/affect``: ``model.safetensors`` + ``card.json``) records which tagger's outputs it reads; a
track tagged by another model gets ``None`` with the reason, never a number from the wrong features.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from audiotaste._paths import models_dir
from audiotaste.errors import ModelError

__all__ = [
    "MAX_PATCHES",
    "MOOD_VA",
    "QUADRANTS",
    "STUDENT",
    "Affect",
    "AffectHead",
    "load_affect_head",
    "load_student",
    "mood_va",
    "quadrant_probs",
    "student_patches",
]

#: The tagger whose outputs the shipped head reads: the musicnn-msd student (real-world knowledge,
#: shipped in ``models/``, independent of our default tagger's retraining).
STUDENT = "musicnn-msd-student"
#: At most this many 3-s patches per analysis segment (<= 2 min) go through the student, spread
#: evenly. Six instead of twelve halves the head's cost (~0.06 s of a 3-min file) at no measured
#: loss: on the 4Q dev select half (192 clips of 10 patches each) valence ROC-AUC 0.897 vs 0.900
#: with all ten, arousal 0.960 vs 0.959, quadrant macro 0.920 vs 0.920; four patches lost 0.015
#: of valence (session 7, the head fitted on ten-patch means).
MAX_PATCHES = 6

#: Russell-circumplex angle of each mood, degrees counter-clockwise from "pleasant" (valence axis),
#: after Russell (1980, Fig. 2) and the GEMS/Thayer placements of music moods: happy just above
#: pleasant; energetic (excited) between pleasant and aroused; tense (alarmed/afraid) past aroused
#: into unpleasant; sad (depressed) low-unpleasant; calm (relaxed) low-pleasant; tender (content,
#: serene) between pleasant and calm.
MOOD_ANGLE_DEG: dict[str, float] = {
    "happy": 20.0,
    "energetic": 60.0,
    "tense": 110.0,
    "sad": 210.0,
    "calm": 300.0,
    "tender": 330.0,
}
#: (valence, arousal) of each mood in [0, 1]: the point of its angle on the unit circle, mapped
#: from [-1, 1] to [0, 1] (0.5 is neutral).
MOOD_VA: dict[str, tuple[float, float]] = {
    mood: (0.5 + 0.5 * math.cos(math.radians(deg)), 0.5 + 0.5 * math.sin(math.radians(deg)))
    for mood, deg in MOOD_ANGLE_DEG.items()
}
#: Russell quadrants as in the 4Q emotion set: Q1 positive + high arousal, Q2 negative + high,
#: Q3 negative + low, Q4 positive + low.
QUADRANTS = ("Q1", "Q2", "Q3", "Q4")

_LOGIT_CLIP = 1e-4  # tag probabilities are clipped to [1e-4, 1 - 1e-4] before the logit (|z| <= 9.2)
SILENCE_LUFS = -70.0  # the gate of BS.1770: quieter than this there is no music to judge
#: Shorter than one 3-s student patch, the student would hear the clip looped: no judgement.
MIN_DURATION_S = 2.9


def mood_va(moods: Mapping[str, float]) -> tuple[float, float]:
    """The point on Russell's plane of a track's mood probabilities.

    Parameters
    ----------
    moods : mapping
        ``{"calm": 0.1, "happy": 0.8, ...}``; moods not in :data:`MOOD_VA` are ignored.

    Returns
    -------
    (valence, arousal) : tuple of float, each in [0, 1]
        The probability-weighted mean of the moods' placements; (0.5, 0.5) when no mood is present.
    """
    weights = {m: max(0.0, float(p)) for m, p in moods.items() if m in MOOD_VA}
    total = sum(weights.values())
    if total <= 0.0:
        return 0.5, 0.5
    v = sum(w * MOOD_VA[m][0] for m, w in weights.items()) / total
    a = sum(w * MOOD_VA[m][1] for m, w in weights.items()) / total
    return v, a


def quadrant_probs(valence: float, arousal: float) -> dict[str, float]:
    """Probabilities of the four Russell quadrants from P(positive valence) and P(high arousal),
    taking the two as independent."""
    v, a = float(valence), float(arousal)
    return {"Q1": v * a, "Q2": (1 - v) * a, "Q3": (1 - v) * (1 - a), "Q4": v * (1 - a)}


def student_patches(y: np.ndarray, sr: int, *, max_patches: int = MAX_PATCHES) -> np.ndarray:
    """Up to ``max_patches`` of musicnn's 3-s log-mel patches, spread evenly over a signal.

    Each chosen patch is computed from its own short window (resampled to 16 kHz with 40 ms of
    context each side, the window aligned to the 20-ms grid where 22.05 kHz and 16 kHz samples
    coincide), so the cost does not grow with the signal beyond ``max_patches`` patches. Patches
    sit where :func:`~audiotaste.tagger.musicnn_net.musicnn_patches` cuts them (every 187 frames);
    a signal shorter than one patch is looped to fill it, as musicnn does.

    Parameters
    ----------
    y : np.ndarray [n_samples]
        Mono signal.
    sr : int
        Its sample rate, Hz.
    max_patches : int, keyword-only

    Returns
    -------
    np.ndarray [k, 187, 96], float32, k <= max_patches
    """
    import soxr
    import torch

    from .musicnn_net import (
        HOP_LENGTH,
        N_FFT,
        PATCH_FRAMES,
        SR,
        front_end_tensors,
        logmel_frames,
        musicnn_logmel,
        musicnn_patches,
    )

    y = np.asarray(y, np.float32).reshape(-1)
    n16 = int(len(y) * SR // sr)
    n_frames = 1 + n16 // HOP_LENGTH
    if n_frames < PATCH_FRAMES or y.size == 0:
        y16 = soxr.resample(y, sr, SR).astype(np.float32) if sr != SR else y
        return musicnn_patches(musicnn_logmel(y16))[:max_patches]
    n_full = (n_frames - PATCH_FRAMES) // PATCH_FRAMES + 1
    chosen = np.unique(np.round(np.linspace(0, n_full - 1, min(n_full, max_patches))).astype(int))
    g = math.gcd(SR, sr)
    step16, step_in = SR // g, sr // g  # one grid step in 16-kHz and in input samples
    fb, window = front_end_tensors()
    span = (PATCH_FRAMES - 1) * HOP_LENGTH + N_FFT  # 16-kHz samples behind one patch's frames
    margin = int(0.04 * SR)
    out = []
    for i in chosen:
        first = int(i) * PATCH_FRAMES * HOP_LENGTH - N_FFT // 2  # first sample of the patch's frames
        b16 = (first - margin) // step16 * step16
        e16 = -(-(first + span + margin) // step16) * step16
        b_in, e_in = b16 // step16 * step_in, e16 // step16 * step_in
        seg = np.zeros(e_in - b_in, np.float32)  # zeros beyond the signal, as musicnn's centre padding
        lo, hi = max(0, b_in), min(len(y), e_in)
        seg[lo - b_in : hi - b_in] = y[lo:hi]
        seg16 = soxr.resample(seg, sr, SR).astype(np.float32) if sr != SR else seg
        piece = seg16[first - b16 : first - b16 + span]
        if piece.size < span:
            piece = np.pad(piece, (0, span - piece.size))
        out.append(logmel_frames(torch.from_numpy(np.ascontiguousarray(piece)), fb, window).numpy())
    return np.stack(out).astype(np.float32, copy=False)


@lru_cache(maxsize=2)
def _student_cached(folder: Path, _weights_mtime: int) -> Any:
    from .musicnn import MusicnnTagger

    return MusicnnTagger.load(folder)


def load_student(name: str = STUDENT) -> Any:
    """The shipped musicnn student (loaded once per process), or ``None`` when it is not installed."""
    folder = models_dir() / name
    if not (folder / "card.json").is_file():
        return None
    weights = folder / "model.safetensors"
    return _student_cached(folder.resolve(), weights.stat().st_mtime_ns if weights.exists() else -1)


@dataclass(frozen=True)
class Affect:
    """Valence and arousal of one track.

    Attributes
    ----------
    valence : float or None
        0-1, probability that the track reads as positive (happy, cheerful) rather than negative
        (sad, angry); ``None`` when it cannot be judged.
    arousal : float or None
        0-1, probability that the track reads as energetic rather than calm; ``None`` likewise.
    note : str or None
        Why the values are ``None`` (``None`` when they are set).
    """

    valence: float | None
    arousal: float | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"valence": self.valence, "arousal": self.arousal, "note": self.note}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
    return np.log(p / (1.0 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free


def feature_vector(
    *,
    embedding: Sequence[float],
    tags: Mapping[str, Mapping[str, float]],
    descriptors: Mapping[str, Any],
    tag_names: Sequence[str],
    descriptor_names: Sequence[str],
) -> np.ndarray:
    """The head's input for one track: embedding, tag logits, descriptors (NaN where missing).

    Parameters
    ----------
    embedding : sequence of float [emb_dim]
    tags : mapping
        ``{"genre": {...}, "mood": {...}}`` probabilities.
    descriptors : mapping
        ``{"loudness_lufs": -9.1, ...}``.
    tag_names, descriptor_names : sequence of str
        ``"mood.calm"``-style tag names and descriptor names, in the head's order.

    Returns
    -------
    np.ndarray [emb_dim + n_tags + n_descriptors], float64
    """
    probs = []
    for name in tag_names:
        tax, _, label = name.partition(".")
        probs.append(float(tags.get(tax, {}).get(label, np.nan)))
    desc = []
    for name in descriptor_names:
        value = descriptors.get(name)
        desc.append(np.nan if value is None else float(value))
    return np.concatenate(
        [np.asarray(embedding, np.float64).reshape(-1), _logit(np.asarray(probs, np.float64)), np.asarray(desc)]
    )


class AffectHead:
    """Calibrated valence and arousal from a tagged track's features.

    Parameters
    ----------
    C : float
        Inverse L2 strength of both logistic regressions (on standardised features).
    n_folds : int
        Folds (grouped, e.g. by artist) of the out-of-fold predictions the Platt scaling is fitted on.
    tag_names, descriptor_names : sequence of str
        What :func:`feature_vector` builds, recorded in the card.
    tagger : str
        ``"name@version"`` of the tagger whose embedding and tags the head reads.

    Attributes
    ----------
    mean_, scale_ : np.ndarray [n_features]
        Standardisation (missing values are imputed with ``mean_``, i.e. 0 after scaling).
    coef_ : np.ndarray [2, n_features]; intercept_ : np.ndarray [2]
        Valence row, then arousal row.
    platt_ : np.ndarray [2, 2]
        ``(slope, offset)`` per target: probability = sigmoid(slope * logit + offset).
    """

    TARGETS = ("valence", "arousal")

    def __init__(
        self,
        *,
        C: float = 0.05,
        n_folds: int = 5,
        tag_names: Sequence[str] = (),
        descriptor_names: Sequence[str] = (),
        tagger: str = "",
    ) -> None:
        self.C = C
        self.n_folds = n_folds
        self.tag_names = tuple(tag_names)
        self.descriptor_names = tuple(descriptor_names)
        self.tagger = tagger
        self.card: dict[str, Any] = {}

    # --- fitting (scikit-learn, imported only here) ------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray, *, groups: np.ndarray) -> AffectHead:
        """Fit both heads and their Platt scaling.

        Parameters
        ----------
        X : np.ndarray [n, n_features]
            :func:`feature_vector` rows (NaN allowed in descriptors).
        y : np.ndarray [n, 2] of {0, 1}
            Positive valence, high arousal.
        groups : np.ndarray [n]
            Group of each row (the artist): out-of-fold predictions never share a group with their fit.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold

        X = np.asarray(X, np.float64)
        y = np.asarray(y).astype(int)
        self.mean_ = np.nanmean(X, axis=0)
        scale = np.nanstd(X, axis=0)
        self.scale_ = np.where(scale > 1e-9, scale, 1.0)
        Z = self._standardise(X)
        coef, intercept, platt = [], [], []
        for t in range(2):
            lr = LogisticRegression(C=self.C, max_iter=2000).fit(Z, y[:, t])
            coef.append(lr.coef_[0])
            intercept.append(lr.intercept_[0])
            oof = np.zeros(len(Z))
            for train, test in GroupKFold(n_splits=self.n_folds).split(Z, y[:, t], groups):
                fold = LogisticRegression(C=self.C, max_iter=2000).fit(Z[train], y[train, t])
                oof[test] = fold.decision_function(Z[test])
            cal = LogisticRegression(C=1e4, max_iter=2000).fit(oof[:, None], y[:, t])
            platt.append((cal.coef_[0, 0], cal.intercept_[0]))
        self.coef_ = np.asarray(coef)
        self.intercept_ = np.asarray(intercept)
        self.platt_ = np.asarray(platt)
        return self

    # --- inference (numpy) -------------------------------------------------------------------------
    def _standardise(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, np.float64) - self.mean_) / self.scale_
        return np.where(np.isfinite(Z), Z, 0.0)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Uncalibrated logits [n, 2] (valence, arousal)."""
        return self._standardise(np.atleast_2d(X)) @ self.coef_.T + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated P(positive valence), P(high arousal): [n, 2] in [0, 1]."""
        z = self.decision_function(X)
        return _sigmoid(z * self.platt_[:, 0] + self.platt_[:, 1])

    def predict_track(
        self,
        *,
        embedding: Sequence[float],
        tags: Mapping[str, Mapping[str, float]],
        descriptors: Mapping[str, Any],
        tagger: str | None,
    ) -> Affect:
        """Valence and arousal of one analysed track, or ``None`` with the reason.

        Parameters
        ----------
        embedding, tags : the main tagger's outputs (as ``Analysis.embedding`` / ``.tags``).
        descriptors : mapping
            ``Analysis.descriptors()`` (``loudness_lufs`` decides silence).
        tagger : str or None
            ``"name@version"`` of the tagger that produced ``embedding`` and ``tags``.
        """
        loudness = descriptors.get("loudness_lufs")
        if loudness is None or not np.isfinite(loudness) or loudness < SILENCE_LUFS:
            return Affect(None, None, f"silent (loudness below {SILENCE_LUFS:g} LUFS): no music to judge")
        duration = descriptors.get("duration_s")
        if duration is not None and float(duration) < MIN_DURATION_S:
            return Affect(None, None, f"too short ({float(duration):.2f} s < {MIN_DURATION_S:g} s) to judge")
        if tagger != self.tagger:
            return Affect(None, None, f"the affect head reads {self.tagger}'s outputs, not {tagger}'s")
        x = feature_vector(
            embedding=embedding, tags=tags, descriptors=descriptors,
            tag_names=self.tag_names, descriptor_names=self.descriptor_names,
        )  # fmt: skip
        if x.shape[0] != self.mean_.shape[0] or not np.isfinite(x[: x.shape[0] - len(self.descriptor_names)]).all():
            return Affect(None, None, f"the tagger's embedding or tags do not fit the affect head of {self.tagger}")
        v, a = self.predict_proba(x)[0]
        return Affect(float(v), float(a))

    # --- persistence -------------------------------------------------------------------------------
    def tensors(self) -> dict[str, np.ndarray]:
        return {
            "mean": self.mean_.astype(np.float32),
            "scale": self.scale_.astype(np.float32),
            "coef": self.coef_.astype(np.float32),
            "intercept": self.intercept_.astype(np.float32),
            "platt": self.platt_.astype(np.float32),
        }

    def save(self, folder: str | Path, card: Mapping[str, Any]) -> Path:
        """Write ``model.safetensors`` then ``card.json`` (atomically, the card last)."""
        from safetensors.numpy import save_file

        from audiotaste._io import atomic_path, atomic_write_json

        folder = Path(folder)
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in self.tensors().items()}, str(tmp))
        full = {
            **card,
            "kind": "affect-head",
            "targets": list(self.TARGETS),
            "labels": {"affect": list(self.TARGETS)},  # what `audiotaste models list` shows
            "tagger": self.tagger,
            "features": {
                "embedding_dim": int(self.mean_.shape[0] - len(self.tag_names) - len(self.descriptor_names)),
                "tags": list(self.tag_names),
                "descriptors": list(self.descriptor_names),
            },
            "config": {"C": self.C, "n_folds": self.n_folds},
        }
        atomic_write_json(folder / "card.json", full)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> AffectHead:
        """Read a folder written by :meth:`save`.

        Raises
        ------
        ModelError
            Missing or unreadable card or weights, or weights whose shapes contradict the card.
        """
        folder = Path(folder)
        card_path, weights_path = folder / "card.json", folder / "model.safetensors"
        for p in (card_path, weights_path):
            if not p.is_file():
                raise ModelError(p, "affect model file is missing")
        try:
            card = json.loads(card_path.read_text())
            feats = card["features"]
            head = cls(
                C=float(card["config"]["C"]), n_folds=int(card["config"]["n_folds"]),
                tag_names=[str(t) for t in feats["tags"]],
                descriptor_names=[str(d) for d in feats["descriptors"]], tagger=str(card["tagger"]),
            )  # fmt: skip
            n = int(feats["embedding_dim"]) + len(head.tag_names) + len(head.descriptor_names)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(card_path, f"unreadable affect model card ({exc})") from None
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            t = load_file(str(weights_path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelError(weights_path, f"not a readable safetensors file ({exc})") from None
        shapes = {"mean": (n,), "scale": (n,), "coef": (2, n), "intercept": (2,), "platt": (2, 2)}
        for key, shape in shapes.items():
            if key not in t or t[key].shape != shape:
                got = t[key].shape if key in t else "missing"
                raise ModelError(weights_path, f"tensor {key!r} is {got}, the card needs {shape}")
            if not np.isfinite(t[key]).all():
                raise ModelError(weights_path, f"tensor {key!r} holds NaN or infinite values")
        head.mean_, head.scale_ = t["mean"].astype(np.float64), t["scale"].astype(np.float64)
        head.coef_, head.intercept_ = t["coef"].astype(np.float64), t["intercept"].astype(np.float64)
        head.platt_ = t["platt"].astype(np.float64)
        head.card = card
        return head


@lru_cache(maxsize=4)
def _load_cached(folder: Path, _card_mtime: int, _weights_mtime: int) -> AffectHead:
    return AffectHead.load(folder)


def load_affect_head(folder: str | Path | None = None) -> AffectHead | None:
    """The shipped affect head (``models/affect``), or the one in ``folder``.

    Returns ``None`` when the shipped folder is absent (an install without it has no valence and
    arousal, as one without ``models/default`` has no tags); a folder that exists but is broken is a
    loud :class:`ModelError`.
    """
    path = Path(folder) if folder is not None else models_dir() / "affect"
    if folder is None and not path.exists():
        return None
    card, weights = path / "card.json", path / "model.safetensors"
    mtimes = [p.stat().st_mtime_ns if p.exists() else -1 for p in (card, weights)]
    return _load_cached(path.resolve(), mtimes[0], mtimes[1])
