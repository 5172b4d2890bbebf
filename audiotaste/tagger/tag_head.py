"""Genre and mood as published by ``analyze``: a small head over what the analysis already heard.

The default CNN learned our rendered corpus and reads real records poorly (issue 18: genre ROC-AUC
0.61 on real 4Q clips against 0.88 for the musicnn student). The head reads the student's mean
embedding and tags (computed anyway for valence/arousal), the CNN's tags and embedding and the
descriptors, and was fitted on rendered clips with exact labels, real clips with AllMusic genres and
Russell quadrants, and unlabelled real audio with the musicnn teachers' tags as soft targets
(``scripts/train_tag_head.py``; numbers in ``models/tags/card.json``).

Since ``models/tags`` 1.1.0 the head's genre logits on recordings are blended with the student's
by-name prior, calibrated: 269 real clips correct that prior on some genres (electronic, rock) and
only add noise on others (jazz, blues, folk), and grouped cross-validation says which is which
(:meth:`TagHead.fit_prior_blend`). A small domain classifier (rendered or recorded) keeps the blend
off the renders, on which the student's tags are near chance.

Inference is numpy only; torch is imported by :meth:`TagHead.fit`.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiotaste.errors import ModelError

__all__ = ["GENRES", "MOODS", "TagHead", "input_vector", "load_tag_head", "logit", "stack_features",
           "weighted_bce"]

GENRES = ("ambient", "blues", "classical", "country", "electronic", "folk", "hiphop", "jazz", "latin",
          "pop", "reggae", "rock", "soul")  # fmt: skip
MOODS = ("calm", "energetic", "happy", "sad", "tender", "tense")
#: descriptor names, in the order of the cached ``desc`` arrays and of :func:`input_vector`
DESCRIPTORS = (
    "tempo_bpm", "tempo_confidence", "mode", "key_confidence", "loudness_lufs", "loudness_range_lu",
    "energy", "danceability", "brightness", "onset_rate", "dynamic_complexity",
)  # fmt: skip
_CLIP = 1e-4


def logit(p: np.ndarray) -> np.ndarray:
    """Logit of probabilities clipped to [1e-4, 1 - 1e-4], as the head's inputs take them."""
    p = np.clip(np.asarray(p, np.float64), _CLIP, 1.0 - _CLIP)
    return np.log(p / (1.0 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free


#: our label -> the student's (musicnn-msd) tags that name it; the largest is the label's prior
STUDENT_NAMES: dict[str, tuple[str, ...]] = {
    "genre.ambient": ("ambient", "chillout"),
    "genre.blues": ("blues",),
    "genre.country": ("country",),
    "genre.electronic": ("electronic", "electronica", "electro", "House"),
    "genre.folk": ("folk",),
    "genre.hiphop": ("Hip-Hop",),
    "genre.jazz": ("jazz",),
    "genre.pop": ("pop", "indie pop"),
    "genre.rock": ("rock", "alternative rock", "classic rock", "indie rock", "hard rock", "punk", "metal",
                   "heavy metal", "Progressive rock"),
    "genre.soul": ("soul", "rnb", "funk"),
    "mood.calm": ("Mellow", "chill", "chillout", "easy listening"),
    "mood.energetic": ("party", "dance", "hard rock", "metal", "punk"),
    "mood.happy": ("happy", "party", "catchy"),
    "mood.sad": ("sad",),
    "mood.tender": ("beautiful", "Mellow"),
    "mood.tense": ("heavy metal", "metal", "hard rock", "punk"),
}  # fmt: skip
LABELS = tuple(f"genre.{g}" for g in GENRES) + tuple(f"mood.{m}" for m in MOODS)


def student_priors(student_tags: np.ndarray) -> np.ndarray:
    """Logit of the largest student tag named after each label [n, 19]; 0 where none names it
    (classical, latin, reggae)."""
    from .musicnn_net import MSD_LABELS

    out = np.zeros((len(student_tags), len(LABELS)))
    for j, label in enumerate(LABELS):
        names = STUDENT_NAMES.get(label)
        if names:
            out[:, j] = logit(student_tags[:, [MSD_LABELS.index(n) for n in names]].max(axis=1))
    return out


def stack_features(a: Mapping[str, np.ndarray]) -> np.ndarray:
    """Rows of head inputs from cached arrays (``scripts/extract_tag_features.py`` keys).

    Parameters
    ----------
    a : mapping
        ``affect_emb`` [n, 200] and ``affect_tags`` [n, 50] (the musicnn student), ``desc`` [n, 11]
        (:data:`DESCRIPTORS`), ``default_emb`` [n, 128] and ``default_tags`` [n, 19] (the CNN, in
        :data:`LABELS` order).

    Returns
    -------
    np.ndarray [n, 427], float64 (NaN where a descriptor is missing): student embedding, student tag
    logits, descriptors, CNN embedding, then the two priors per label, :data:`N_PRIOR_COLUMNS` in
    all: the CNN's own logit [19] and :func:`student_priors` [19].
    """
    tags = np.asarray(a["affect_tags"], np.float64)
    parts = [a["affect_emb"], logit(tags), a["desc"], a["default_emb"], logit(a["default_tags"]),
             student_priors(tags)]  # fmt: skip
    return np.hstack([np.asarray(p, np.float64) for p in parts])


N_PRIOR_COLUMNS = 2 * len(LABELS)
#: candidate weights of the calibrated prior (:meth:`TagHead.fit_prior_blend`)
BLEND_GRID = tuple(i / 10 for i in range(11))


def input_vector(
    *,
    student_embedding: Sequence[float] | np.ndarray,
    student_tags: Sequence[float] | np.ndarray,
    descriptors: Mapping[str, Any],
    cnn_embedding: Sequence[float] | np.ndarray,
    cnn_tags: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """One track's head input, in the order of :func:`stack_features` (tags as probabilities)."""
    desc = [np.nan if descriptors.get(k) is None else float(descriptors[k]) for k in DESCRIPTORS]
    a = {"affect_emb": np.asarray(student_embedding)[None], "affect_tags": np.asarray(student_tags)[None],
         "desc": np.asarray(desc)[None], "default_emb": np.asarray(cnn_embedding)[None],
         "default_tags": np.asarray(cnn_tags)[None]}  # fmt: skip
    return stack_features(a)[0]


class TagHead:
    """Multi-label genre/mood probabilities from :func:`stack_features` rows.

    Parameters
    ----------
    experts : int
        Linear experts mixed by a soft-max gate over the same inputs; 1 is a plain logistic head.
        Two let the head trust the CNN on music like our renders and the student on records, which
        no single linear map can (the CNN is right on renders and near chance on records).
    l2 : float
        Weight decay on the weights (not the biases) of standardised inputs.
    epochs : int
        Full-batch Adam steps.
    seed : int
    labels : sequence of str
        ``"genre.rock"``-style output names.

    Attributes
    ----------
    mean_, scale_ : np.ndarray [n_features]
        Standardisation; a missing value is imputed with ``mean_`` (0 after scaling).
    experts_ : np.ndarray [k, n_features, n_labels]; bias_ : np.ndarray [k, n_labels]
    diag_ : np.ndarray [k, 2, n_labels]
        Each expert's weight on each label's two priors (the CNN's logit, the student's named tags).
    gate_ : np.ndarray [n_features, k]; gate_bias_ : np.ndarray [k]
    domain_ : np.ndarray [n_features] or None; domain_bias_ : float
        Logistic P(recorded, not rendered) over the standardised inputs (``fit(..., real=...)``).
    prior_cal_ : np.ndarray [2, n_labels] or None
        Slope and intercept mapping each label's student prior logit to a calibrated logit.
    blend_ : np.ndarray [n_labels] or None
        Weight of the calibrated prior in each label's logit on a recording (0: the head alone).
    """

    def __init__(
        self,
        *,
        experts: int = 2,
        l2: float = 1e-3,
        epochs: int = 400,
        seed: int = 0,
        labels: Sequence[str] = LABELS,
        domain_c: float = 0.1,
    ) -> None:
        self.experts = experts
        self.l2 = l2
        self.epochs = epochs
        self.seed = seed
        self.labels = tuple(labels)
        self.domain_c = domain_c
        self.card: dict[str, Any] = {}
        self.domain_: np.ndarray | None = None
        self.domain_bias_ = 0.0
        self.prior_cal_: np.ndarray | None = None
        self.blend_: np.ndarray | None = None

    def fit(self, X: np.ndarray, Y: np.ndarray, M: np.ndarray, real: np.ndarray | None = None) -> TagHead:
        """Fit on soft targets with per-cell weights; any earlier prior blend is dropped.

        Parameters
        ----------
        X : np.ndarray [n, n_features]
        Y : np.ndarray [n, n_labels] in [0, 1]
            Targets (exact labels or a teacher's probabilities).
        M : np.ndarray [n, n_labels] >= 0
            Weight of each cell; 0 leaves a label unlabelled for that row.
        real : np.ndarray [n] of bool, optional
            Which rows are recordings (the rest rendered): fits the domain classifier that
            :meth:`real_weight` reads, which a prior blend needs.
        """
        import torch

        self.prior_cal_ = self.blend_ = None
        torch.manual_seed(self.seed)
        with warnings.catch_warnings():  # a column that is always missing is imputed with 0
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mean_ = np.nan_to_num(np.nanmean(X, axis=0))
            self.scale_ = np.nan_to_num(np.nanstd(X, axis=0)) + 1e-6
        xs = torch.tensor(self._standardise(X), dtype=torch.float32)  # [n, d]
        y = torch.tensor(Y, dtype=torch.float32)  # [n, L]
        m = torch.tensor(M, dtype=torch.float32)  # [n, L]
        k, n_in, n_out = self.experts, X.shape[1], Y.shape[1]
        experts = torch.nn.Parameter(0.01 * torch.randn(k, n_in, n_out))  # [k, d, L]
        bias = torch.nn.Parameter(torch.zeros(k, n_out))  # [k, L]
        # a random gate breaks the experts' symmetry: with an even mix both get the same gradients forever
        gate = torch.nn.Parameter(0.1 * torch.randn(n_in, k))  # [d, k]
        gate_bias = torch.nn.Parameter(torch.zeros(k))  # [k]
        diag = torch.nn.Parameter(torch.zeros(k, 2, n_out))  # [k, 2, L]: weight of each label's two priors
        priors = torch.tensor(_priors(X, n_out), dtype=torch.float32)  # [n, 2, L]
        opt = torch.optim.Adam([experts, bias, gate, gate_bias, diag], lr=1e-2)
        norm = m.sum().clamp(min=1.0)
        for _ in range(self.epochs):
            opt.zero_grad()
            logits = _mix_torch(xs, priors, experts, bias, diag, gate, gate_bias)  # [n, L]
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
            # the priors are one number per label each: they need no shrinking to generalise
            loss = (bce * m).sum() / norm + self.l2 * ((experts**2).sum() + (gate**2).sum())
            loss.backward()
            opt.step()
        self.experts_ = experts.detach().numpy().astype(np.float64)
        self.bias_ = bias.detach().numpy().astype(np.float64)
        self.diag_ = diag.detach().numpy().astype(np.float64)
        self.gate_ = gate.detach().numpy().astype(np.float64)
        self.gate_bias_ = gate_bias.detach().numpy().astype(np.float64)
        self.domain_, self.domain_bias_ = None, 0.0
        if real is not None:
            from sklearn.linear_model import LogisticRegression

            # a classifier of its own rather than the gate: the gate is fitted for the tags and sends
            # some real jazz and country to the renders' expert (mean gate 0.91 / 0.90 on 4Q clips)
            lr = LogisticRegression(C=self.domain_c, max_iter=2000)
            lr.fit(self._standardise(X), np.asarray(real, bool))
            self.domain_, self.domain_bias_ = lr.coef_[0].astype(np.float64), float(lr.intercept_[0])
        return self

    def fit_prior_blend(
        self,
        X: np.ndarray,
        Z: np.ndarray,
        D: np.ndarray,
        Y: np.ndarray,
        M: np.ndarray,
        *,
        labels: Sequence[str] | None = None,
        grid: Sequence[float] = BLEND_GRID,
    ) -> TagHead:
        """Choose, per label, how far a recording's logit moves toward the calibrated student prior.

        Each label's prior logit is Platt-scaled on the labelled recordings, then its blend weight is
        the value of ``grid`` whose blended logits ``Z + w * D * (prior - Z)`` have the smallest
        weighted cross-entropy. ``Z`` and ``D`` must come from heads that did not see the row
        (grouped cross-validation), or the head's own fit would always win.

        Parameters
        ----------
        X : np.ndarray [n, n_features]
            :func:`stack_features` rows of labelled recordings.
        Z : np.ndarray [n, n_labels]
            Out-of-fold logits of the head (:meth:`decision_function` of heads without a blend).
        D : np.ndarray [n]
            Out-of-fold :meth:`real_weight` of the same rows.
        Y, M : np.ndarray [n, n_labels]
            Targets and cell weights, as for :meth:`fit`.
        labels : sequence of str, optional
            Labels that may blend; default the genres :data:`STUDENT_NAMES` names (the quadrants
            label some moods only one way, e.g. never ``tender``, which no calibration survives).
        grid : sequence of float
            Candidate blend weights in [0, 1].
        """
        if self.domain_ is None:
            raise ValueError("fit the head with real= before a prior blend: the blend needs the domain")
        if labels is None:
            labels = [lab for lab in self.labels if lab.startswith("genre.") and lab in STUDENT_NAMES]
        prior = _priors(X, len(self.labels))[:, 1]
        cal, blend = np.zeros((2, len(self.labels))), np.zeros(len(self.labels))
        for lab in labels:
            j = self.labels.index(lab)
            cal[:, j] = _platt(prior[:, j], Y[:, j], M[:, j])
            c = cal[0, j] * prior[:, j] + cal[1, j]
            losses = [weighted_bce(Z[:, j] + w * D * (c - Z[:, j]), Y[:, j], M[:, j]) for w in grid]
            blend[j] = grid[int(np.argmin(losses))]
        self.prior_cal_, self.blend_ = cal, blend
        return self

    def real_weight(self, X: np.ndarray) -> np.ndarray:
        """P(a recording, not a render) [n]; 1 for a head fitted without ``real``."""
        X = np.atleast_2d(X)
        if self.domain_ is None:
            return np.ones(len(X))
        return _sigmoid(self._standardise(X) @ self.domain_ + self.domain_bias_)

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, np.float64) - self.mean_) / self.scale_
        return np.where(np.isfinite(Z), Z, 0.0)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits [n, n_labels]: the experts' mix, blended with the calibrated prior if fitted."""
        z = self.mixture_logits(X)
        if self.blend_ is None or self.prior_cal_ is None:
            return z
        prior = _priors(np.atleast_2d(X), z.shape[1])[:, 1]  # [n, L]
        c = self.prior_cal_[0] * prior + self.prior_cal_[1]
        w = self.blend_[None, :] * self.real_weight(X)[:, None]  # [n, L]
        return z + w * (c - z)

    def mixture_logits(self, X: np.ndarray) -> np.ndarray:
        """Logits [n, n_labels] of the gated experts alone (no prior blend)."""
        x = self._standardise(np.atleast_2d(X))  # [n, d]
        z = np.einsum("nd,kdl->nkl", x, self.experts_) + self.bias_  # [n, k, L]
        z += np.einsum("npl,kpl->nkl", _priors(np.atleast_2d(X), z.shape[2]), self.diag_)
        g = x @ self.gate_ + self.gate_bias_  # [n, k]
        g = np.exp(g - g.max(axis=1, keepdims=True))
        g /= g.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkl->nl", g, z)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities [n, n_labels] (calibrated by the fit itself: ECE 0.015 on real genre cells)."""
        return _sigmoid(self.decision_function(X))

    # --- persistence ---------------------------------------------------------------------------------
    def save(self, folder: str | Path, card: Mapping[str, Any]) -> Path:
        """Write ``model.safetensors`` and ``card.json`` (atomically) into ``folder``."""
        from safetensors.numpy import save_file

        from audiotaste._io import FILE_MODE, atomic_write_text

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"mean": self.mean_, "scale": self.scale_, "experts": self.experts_, "bias": self.bias_, "diag": self.diag_, "gate": self.gate_, "gate_bias": self.gate_bias_}
        if self.domain_ is not None:
            tensors |= {"domain": self.domain_, "domain_bias": np.array([self.domain_bias_])}
        if self.blend_ is not None and self.prior_cal_ is not None:
            tensors |= {"prior_cal": self.prior_cal_, "blend": self.blend_}
        tmp = folder / ".model.safetensors.tmp"
        save_file({k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()}, str(tmp))
        tmp.chmod(FILE_MODE)
        tmp.replace(folder / "model.safetensors")
        full = {**card, "format": "audiotaste-tag-head", "experts": self.experts,
                "labels": list(self.labels)}  # fmt: skip
        atomic_write_text(folder / "card.json", json.dumps(full, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> TagHead:
        """Read a saved head; a missing or broken file is a :class:`ModelError` naming it."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            card = json.loads((folder / "card.json").read_text())
            t = load_file(str(folder / "model.safetensors"))
            head = cls(experts=int(card["experts"]), labels=card["labels"])
            t64 = {k: v.astype(np.float64) for k, v in t.items()}
            head.mean_, head.scale_ = t64["mean"], t64["scale"]
            head.experts_, head.bias_, head.diag_ = t64["experts"], t64["bias"], t64["diag"]
            head.gate_, head.gate_bias_ = t64["gate"], t64["gate_bias"]
            # optional since 1.1.0: a 1.0.0 head has neither and reads as before
            if "domain" in t64:
                head.domain_, head.domain_bias_ = t64["domain"], float(t64["domain_bias"][0])
            if "blend" in t64:
                head.prior_cal_, head.blend_ = t64["prior_cal"], t64["blend"]
        except Exception as exc:
            raise ModelError(folder, f"cannot load the genre/mood head ({exc})") from exc
        if head.experts_.shape != (head.experts, head.mean_.shape[0], len(head.labels)):
            raise ModelError(folder, "the genre/mood head's weights do not match its card")
        head.card = card
        return head


def _priors(X: np.ndarray, n_labels: int) -> np.ndarray:
    """The two prior logits of each label [n, 2, L] from raw :func:`stack_features` rows (0 if NaN)."""
    p = np.asarray(X, np.float64)[:, -2 * n_labels :].reshape(len(X), 2, n_labels)
    return np.where(np.isfinite(p), p, 0.0)


def _platt(s: np.ndarray, y: np.ndarray, w: np.ndarray, steps: int = 50) -> np.ndarray:
    """(slope, intercept) of the weighted logistic fit of soft targets ``y`` on one score ``s``."""
    A = np.column_stack([s, np.ones_like(s)])  # [n, 2]
    beta = np.array([1.0, 0.0])
    ridge = 1e-4 * max(float(w.sum()), 1.0)  # a separable label would drive Newton to infinity
    for _ in range(steps):
        p = _sigmoid(A @ beta)
        grad = A.T @ (w * (p - y)) + ridge * beta
        hess = (A * (w * p * (1 - p))[:, None]).T @ A + ridge * np.eye(2)
        beta = beta - np.linalg.solve(hess, grad)
    return beta


def weighted_bce(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Mean cross-entropy of logits ``z`` against soft targets ``y``, cells weighted by ``w``."""
    loss = np.logaddexp(0.0, z) - y * z  # -[y log s(z) + (1-y) log(1-s(z))], overflow-free
    return float((w * loss).sum() / max(float(w.sum()), 1e-12))


def _mix_torch(x: Any, priors: Any, experts: Any, bias: Any, diag: Any, gate: Any, gate_bias: Any) -> Any:
    """Torch twin of :meth:`TagHead.decision_function`: x [n, d], priors [n, 2, L] -> logits [n, L]."""
    import torch

    z = torch.einsum("nd,kdl->nkl", x, experts) + bias  # [n, k, L]
    z = z + torch.einsum("npl,kpl->nkl", priors, diag)
    g = torch.softmax(x @ gate + gate_bias, dim=1)  # [n, k]
    return torch.einsum("nk,nkl->nl", g, z)


@functools.lru_cache(maxsize=4)
def _load_cached(folder: Path, _card_mtime: int, _weights_mtime: int) -> TagHead:
    return TagHead.load(folder)


def load_tag_head(folder: str | Path | None = None) -> TagHead | None:
    """The installed head (``models/tags``), or ``None`` when none is installed; broken is an error."""
    from audiotaste._paths import models_dir

    folder = Path(folder) if folder is not None else models_dir() / "tags"
    if not (folder / "card.json").exists() and not (folder / "model.safetensors").exists():
        return None
    try:
        stamps = ((folder / "card.json").stat().st_mtime_ns, (folder / "model.safetensors").stat().st_mtime_ns)
    except OSError as exc:
        raise ModelError(folder, f"the genre/mood head is incomplete ({exc})") from exc
    return _load_cached(folder, *stamps)
