"""What every tagger is: the :class:`Tagger` protocol, its :class:`TaggerOutput`, and its :class:`TagStream`.

Two kinds implement it: our CNN (:class:`audiotaste.tagger.infer.CnnTagger`, 22.05 kHz log-mel patches,
genre and mood) and the musicnn port (:class:`audiotaste.tagger.musicnn.MusicnnTagger`, 16 kHz, 50
Last.fm or MagnaTagATune tags). :func:`audiotaste.tagger.load_model` returns either; the analysis and
the catalogue talk to them through this protocol only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from audiotaste.features.spectrum import Spectrum

__all__ = ["CollectingStream", "TagStream", "Tagger", "TaggerOutput", "load_mono"]


@dataclass(frozen=True)
class TaggerOutput:
    """What a tagger says about one track.

    Attributes
    ----------
    tags : dict
        ``{"genre": {"rock": 0.91, ...}, "mood": {...}}``, calibrated whole-track probabilities.
    embedding : np.ndarray [emb_dim]
        Mean of the patch embeddings.
    patch_probs : np.ndarray [n_patches, n_labels]
        Calibrated probability of each label in each patch, columns in :attr:`Tagger.label_names` order.
    patch_times : np.ndarray [n_patches]
        Start of each patch, seconds.
    label_names : tuple of str
        ``"genre.rock"``-style names of ``patch_probs``' columns.
    """

    tags: dict[str, dict[str, float]]
    embedding: np.ndarray
    patch_probs: np.ndarray
    patch_times: np.ndarray
    label_names: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tags": self.tags,
            "embedding": self.embedding.tolist(),
            "patch_probs": self.patch_probs.tolist(),
            "patch_times": self.patch_times.tolist(),
            "label_names": list(self.label_names),
        }


class TagStream(Protocol):
    """Tags a mono signal at the tagger's rate that arrives in pieces (``analyze`` decodes once)."""

    def add(self, y: np.ndarray) -> None:
        """Feed the next samples [n], mono, float32 at :attr:`Tagger.sr`."""

    def finish(self) -> TaggerOutput:
        """The tags of everything fed."""


@runtime_checkable
class Tagger(Protocol):
    """A loaded tagger, whatever its network.

    Attributes
    ----------
    name, version : str
        From the model card; ``f"{name}@{version}"`` names the model in results and catalogues.
    labels : dict
        ``{taxonomy: [label, ...]}`` in output order.
    sr : int
        Sample rate the tagger listens at, Hz.
    """

    name: str
    version: str
    labels: dict[str, list[str]]

    @property
    def sr(self) -> int: ...

    @property
    def label_names(self) -> tuple[str, ...]:
        """Flattened ``"taxonomy.label"`` names: the column order of every per-patch array."""

    def predict_audio(self, y: np.ndarray, *, sr: int | None = None) -> TaggerOutput:
        """Tags, embedding and per-patch tags of a mono signal ``y`` [n] at ``sr`` (default :attr:`sr`)."""

    def predict_file(self, path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
        """Whole-track tags of an audio file: ``{"genre": {"rock": 0.91, ...}, ...}``."""

    def predict_patches(self, mel: np.ndarray) -> np.ndarray:
        """Per-patch probabilities [n_patches, n_labels] of the tagger's own log-mel patches."""

    def predict_segment(self, y: np.ndarray, spectrum: Spectrum, mel_db: np.ndarray) -> TaggerOutput:
        """Tags of one analysis segment, without the key-dependent track head.

        ``y`` [n] is mono at ``spectrum.sr``, ``spectrum`` its analysis STFT and ``mel_db`` its analysis
        log-mel (``features.melspectrogram(spectrum=spectrum)``): a tagger whose front end is the
        analysis one reuses them instead of transforming the signal again.
        """

    def apply_track_head(
        self, tags: dict[str, dict[str, float]], *, mode: int, key_confidence: float, key: int = 0
    ) -> dict[str, dict[str, float]]:
        """Whole-track tags re-weighed with the track's key where the model has a track head
        (a copy of ``tags`` where it has none)."""

    def stream(self) -> TagStream:
        """A :class:`TagStream` at :attr:`sr` whose ``finish()`` equals :meth:`predict_audio` of the
        whole signal."""


class CollectingStream:
    """A :class:`TagStream` for taggers that need the whole signal: keeps it, tags it at the end."""

    def __init__(self, tagger: Tagger) -> None:
        self.tagger = tagger
        self.pieces: list[np.ndarray] = []

    def add(self, y: np.ndarray) -> None:
        self.pieces.append(np.asarray(y, np.float32))

    def finish(self) -> TaggerOutput:
        return self.tagger.predict_audio(np.concatenate(self.pieces or [np.zeros(0, np.float32)]))


def load_mono(path: str | os.PathLike[str], sr: int) -> np.ndarray:
    """Mono float32 samples [n] of an audio file at ``sr`` Hz, through audiotaste's loader (which
    names the file in every error)."""
    from audiotaste.audio import load

    y, _ = load(path, sr=sr, mono=True)
    return np.asarray(y, dtype=np.float32).reshape(-1)
