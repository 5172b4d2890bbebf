"""The track-level head: each label's whole-track logit, re-weighed with the key's mode.

Why: mood is partly a matter of mode (minor for sad and tense, major for happy and tender), and a CNN
over 3-s log-mel patches with each band's level removed hears mode poorly. The key estimator of
:mod:`audiotaste.features.tonal` reads it from the whole track. For each label of a taxonomy the head
computes

    p' = sigmoid(w_logit · logit(p) + w_key · s + b),   s = (+1 major, −1 minor) × key confidence

from the tagger's calibrated track probability ``p`` (``s = 0`` when the track has no key). Three
numbers per label, fitted by logistic regression on the validation split (:func:`fit_track_head`), so
the output is calibrated too. The per-patch probabilities stay the CNN's own (a 3-s patch has no key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audiotaste.errors import ModelError

from .calibration import sigmoid

__all__ = ["TrackHead", "key_mode_strength", "fit_track_head", "track_heads_from_card"]

_EPS = 1e-6


def key_mode_strength(*, mode: int, confidence: float, key: int = 0) -> float:
    """The head's key input: ``+confidence`` for a major key, ``-confidence`` for minor, 0 for none.

    Parameters
    ----------
    mode : int
        1 major, 0 minor.
    confidence : float
        Key strength, 0-1.
    key : int
        Tonic pitch class; -1 means no key was found.
    """
    if key < 0 or not np.isfinite(confidence):
        return 0.0
    return float((1.0 if mode == 1 else -1.0) * np.clip(confidence, 0.0, 1.0))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class TrackHead:
    """One taxonomy's head: ``weights[label] = (w_logit, w_key, bias)``.

    Attributes
    ----------
    taxonomy : str
    weights : dict
        Label -> (weight of the track logit, weight of the key input, bias).
    fitted_on : str
        Where the weights came from (recorded in the model card).
    """

    taxonomy: str
    weights: dict[str, tuple[float, float, float]]
    fitted_on: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def apply(self, probs: Mapping[str, float], key_strength: float) -> dict[str, float]:
        """The head's probabilities for one track's ``{label: p}`` (labels it has no weights for pass)."""
        out = dict(probs)
        for label, (w_logit, w_key, bias) in self.weights.items():
            if label in out:
                z = w_logit * float(_logit(np.array(out[label]))) + w_key * key_strength + bias
                out[label] = float(sigmoid(np.array(z)))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": ["logit", "key_mode_strength"],
            "weights": {k: list(v) for k, v in self.weights.items()},
            "fitted_on": self.fitted_on,
            "metrics": dict(self.metrics),
        }


def track_heads_from_card(card: Mapping[str, Any]) -> dict[str, TrackHead]:
    """The heads a model card describes (``{}`` when it has none).

    Raises
    ------
    ModelError
        A ``track_head`` entry that is not ``{taxonomy: {"inputs": ["logit", "key_mode_strength"],
        "weights": {label: [w_logit, w_key, bias]}}}`` over the card's own labels.
    """
    spec = card.get("track_head") or {}
    heads: dict[str, TrackHead] = {}
    try:
        for taxonomy, head in spec.items():
            if list(head["inputs"]) != ["logit", "key_mode_strength"]:
                raise ValueError(f"unknown inputs {head['inputs']!r}")
            labels = set(card["labels"][taxonomy])
            weights = {}
            for label, w in head["weights"].items():
                if label not in labels:
                    raise ValueError(f"label {label!r} is not one of the card's {taxonomy} labels")
                a, b, c = (float(x) for x in w)
                if not all(np.isfinite((a, b, c))):
                    raise ValueError(f"non-finite weights for {label!r}")
                weights[label] = (a, b, c)
            heads[taxonomy] = TrackHead(taxonomy, weights, str(head.get("fitted_on", "")),
                                        dict(head.get("metrics", {})))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(None, f"model card has a malformed track_head ({exc})") from None
    return heads


def fit_track_head(
    probs: np.ndarray,
    key_strength: np.ndarray,
    targets: np.ndarray,
    labels: Sequence[str],
    *,
    taxonomy: str,
    c: float = 1.0,
    fitted_on: str = "",
) -> TrackHead:
    """Fit one taxonomy's head by L2 logistic regression per label.

    Parameters
    ----------
    probs : np.ndarray [n_tracks, n_labels]
        The tagger's calibrated track probabilities.
    key_strength : np.ndarray [n_tracks]
        :func:`key_mode_strength` of each track.
    targets : np.ndarray [n_tracks, n_labels], bool
        True labels.
    labels : sequence of str
        Label names, in column order.
    taxonomy : str
    c : float
        Inverse regularisation strength, on standardised inputs.
    fitted_on : str
        Description recorded in the card.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.column_stack([np.zeros(len(probs)), np.asarray(key_strength, np.float64)])
    weights = {}
    for j, label in enumerate(labels):
        y = np.asarray(targets[:, j], bool)
        if y.all() or not y.any():
            continue  # nothing to learn: the label keeps the CNN's probability
        x[:, 0] = _logit(probs[:, j])
        mean, scale = x.mean(0), x.std(0) + 1e-12
        model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y)
        w = model.coef_[0] / scale  # back to the raw inputs
        bias = float(model.intercept_[0] - (model.coef_[0] * mean / scale).sum())
        weights[label] = (float(w[0]), float(w[1]), bias)
    return TrackHead(taxonomy, weights, fitted_on)
