"""Loading a tagger and tagging tracks with it.

Whole-track tags are the **mean of the patch logits** of each label, divided by its head's calibration
temperature and passed through a sigmoid; a model whose card has a ``track_head`` then re-weighs each
label's track logit with the key's mode (:mod:`audiotaste.tagger.track_head`: ``predict_audio``,
``predict_file`` and ``audiotaste.analyze`` do; ``predict_mel`` and the per-patch probabilities are the
CNN's alone, since they have no key). The embedding is the mean of the patch embeddings. Patches are
2.97 s (128 frames) and do not overlap, except that one extra patch is aligned to the end of the track
so the tail is heard. A clip shorter than one patch is looped to fill it (see
:func:`audiotaste.tagger.model.cut_patches`). Patches go through the network in batches, so a two-hour
file costs time but not memory beyond its log-mel (~160 MB).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiotaste.constants import ANALYSIS_SR
from audiotaste.errors import InputError, ModelError
from audiotaste.features.spectrum import (
    HOP_LENGTH,
    N_FFT,
    N_MELS,
    Spectrum,
    melspectrogram,
    stft_power,
)

from .base import CollectingStream, TaggerOutput, TagStream, load_mono
from .calibration import sigmoid
from .model import FrontEnd, TaggerNet, cut_patches, normalize_patches, patch_starts
from .track_head import key_mode_strength, track_heads_from_card

__all__ = ["CnnTagger", "TaggerOutput", "log_mel"]
_BATCH = 64  # patches per forward pass: bounds memory on long files, still amortises overhead
_CHUNK_FRAMES = 8192  # STFT frames per block when computing a file's log-mel (~190 s, ~34 MB)


class CnnTagger:
    """Our CNN tagger: its network, model card and calibration; a :class:`~audiotaste.tagger.Tagger`.

    Build one with :func:`audiotaste.tagger.load_model`. ``name`` and ``version`` come from the card; ``labels`` maps each
    taxonomy to its label names in output order.
    """

    def __init__(self, net: TaggerNet, card: dict[str, Any], *, path: Path | None = None) -> None:
        self.net = net.eval()
        self.card = card
        self.path = path
        self.name: str = str(card["name"])
        self.version: str = str(card["version"])
        self.labels: dict[str, list[str]] = {k: list(v) for k, v in card["labels"].items()}
        self.frontend = FrontEnd(**card["frontend"])
        temps = card.get("calibration", {}).get("temperature", {})
        # one temperature per output column, from its head's temperature
        self._temperature = np.concatenate(
            [np.full(len(v), float(temps.get(tax, 1.0))) for tax, v in self.labels.items()]
        )
        try:
            self.track_heads = track_heads_from_card(card)
        except ModelError as exc:
            raise ModelError(path, exc.reason) from None

    @property
    def label_names(self) -> tuple[str, ...]:
        """Flattened ``"taxonomy.label"`` names, the column order of every per-patch array."""
        return tuple(f"{tax}.{lab}" for tax, labs in self.labels.items() for lab in labs)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}: {len(v)}" for k, v in self.labels.items())
        return f"CnnTagger({self.name}@{self.version}; {sizes})"

    @property
    def sr(self) -> int:
        """Sample rate of the front end, Hz."""
        return int(self.frontend.sr)

    # --- core -----------------------------------------------------------------------------------
    def _run(self, batches: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Raw logits [n, n_labels] and embeddings [n, emb_dim] of batches of dB patches."""
        logits, embs = [], []
        with torch.inference_mode():
            for patches in batches:
                if not np.isfinite(patches).all():
                    raise InputError(None, "log-mel contains NaN or infinite values")
                lo, em = self.net(torch.from_numpy(normalize_patches(patches, self.frontend.norm)))
                logits.append(lo.numpy())
                embs.append(em.numpy())
        return np.concatenate(logits), np.concatenate(embs)

    def _patches(self, mel: np.ndarray) -> tuple[np.ndarray, Iterator[np.ndarray]]:
        """Patch start frames of a track log-mel [n_mels, n_frames], and its patches batch by batch
        (cut only when needed, so a long track never holds all its patches at once)."""
        fe = self.frontend
        if mel.ndim != 2 or mel.shape[0] != fe.n_mels or mel.shape[1] == 0:
            raise InputError(None, f"expected a log-mel of shape [{fe.n_mels}, n_frames], got {mel.shape}")
        starts = patch_starts(mel.shape[1], fe.patch_frames, fe.patch_hop_frames)
        batches = (cut_patches(mel, starts[i : i + _BATCH], fe.patch_frames) for i in range(0, len(starts), _BATCH))
        return starts, batches

    def predict_patches(self, mel: np.ndarray) -> np.ndarray:
        """Calibrated per-patch probabilities.

        Parameters
        ----------
        mel : np.ndarray [n_mels, n_frames] or [n_patches, n_mels, n_frames]
            A track's log-mel (dB, as :func:`log_mel`), cut into patches as :meth:`predict_mel` does,
            or patches already cut.

        Returns
        -------
        np.ndarray [n_patches, n_labels]
            Columns in :attr:`label_names` order.
        """
        mel = np.asarray(mel, dtype=np.float32)
        if mel.ndim == 3:
            if mel.shape[1] != self.frontend.n_mels or mel.shape[0] == 0 or mel.shape[2] == 0:
                raise InputError(
                    None, f"expected patches [n, {self.frontend.n_mels}, n_frames], got {mel.shape}"
                )
            batches: Iterable[np.ndarray] = (mel[i : i + _BATCH] for i in range(0, len(mel), _BATCH))
        else:
            batches = self._patches(mel)[1]
        logits, _ = self._run(batches)
        return sigmoid(logits / self._temperature).astype(np.float32)

    def patch_logits(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Uncalibrated logits [n_patches, n_labels] and embeddings [n_patches, emb_dim] of a track's
        log-mel [n_mels, n_frames] (dB), cut into patches as :meth:`predict_mel` does (training and
        calibration read these)."""
        return self._run(self._patches(np.asarray(mel, dtype=np.float32))[1])

    def predict_mel(self, mel: np.ndarray) -> TaggerOutput:
        """Tags, embedding and per-patch tags of a track's log-mel [n_mels, n_frames] (dB)."""
        mel = np.asarray(mel, dtype=np.float32)
        starts, batches = self._patches(mel)
        logits, embs = self._run(batches)
        track = sigmoid(logits.mean(axis=0) / self._temperature)
        tags: dict[str, dict[str, float]] = {}
        col = 0
        for tax, labs in self.labels.items():
            tags[tax] = {lab: float(track[col + j]) for j, lab in enumerate(labs)}
            col += len(labs)
        fe = self.frontend
        return TaggerOutput(
            tags=tags,
            embedding=embs.mean(axis=0).astype(np.float32),
            patch_probs=sigmoid(logits / self._temperature).astype(np.float32),
            patch_times=starts * (fe.hop_length / fe.sr),
            label_names=self.label_names,
        )

    def predict_spectrum(self, spectrum: Spectrum) -> TaggerOutput:
        """Tag a track from the analysis STFT (so that ``analyze`` transforms it once)."""
        fe = self.frontend
        if (spectrum.sr, spectrum.n_fft, spectrum.hop_length) != (fe.sr, fe.n_fft, fe.hop_length):
            raise ModelError(
                self.path,
                f"tagger {self.name} needs a spectrum at sr={fe.sr}, n_fft={fe.n_fft}, "
                f"hop={fe.hop_length}; got sr={spectrum.sr}, n_fft={spectrum.n_fft}, hop={spectrum.hop_length}",
            )
        mel = melspectrogram(
            spectrum=spectrum, n_mels=fe.n_mels, fmin=fe.fmin, fmax=fe.fmax, top_db=fe.top_db
        )
        return self.predict_mel(mel)

    def apply_track_head(
        self, tags: dict[str, dict[str, float]], *, mode: int, key_confidence: float, key: int = 0
    ) -> dict[str, dict[str, float]]:
        """Whole-track tags through the card's track heads, given the track's key (see
        :mod:`audiotaste.tagger.track_head`); taxonomies without a head are returned as they are."""
        strength = key_mode_strength(mode=mode, confidence=key_confidence, key=key)
        return {
            tax: self.track_heads[tax].apply(probs, strength) if tax in self.track_heads else dict(probs)
            for tax, probs in tags.items()
        }

    def predict_segment(self, y: np.ndarray, spectrum: Spectrum, mel_db: np.ndarray) -> TaggerOutput:
        """Tags of one analysis segment (see :meth:`audiotaste.tagger.Tagger.predict_segment`): the
        shared log-mel when this front end is the analysis one, else the shared STFT, else the signal."""
        if self._uses_analysis_mel():
            return self.predict_mel(mel_db)
        fe = self.frontend
        if (spectrum.sr, spectrum.n_fft, spectrum.hop_length) == (fe.sr, fe.n_fft, fe.hop_length):
            return self.predict_spectrum(spectrum)
        return self.predict_mel(log_mel(_resample(y, spectrum.sr, fe.sr), fe))

    def _uses_analysis_mel(self) -> bool:
        fe = self.frontend
        return (
            (fe.sr, fe.n_fft, fe.hop_length, fe.n_mels) == (ANALYSIS_SR, N_FFT, HOP_LENGTH, N_MELS)
            and fe.fmin == 0.0 and fe.fmax in (None, ANALYSIS_SR / 2) and fe.top_db == 80.0
        )

    def predict_audio(self, y: np.ndarray, *, sr: int | None = None) -> TaggerOutput:
        """Tag a mono signal ``y`` [n] at ``sr`` Hz (default: the tagger's 22.05 kHz; resampled with
        soxr when different), track head included."""
        y = _resample(np.asarray(y, np.float32), sr or self.frontend.sr, self.frontend.sr)
        out = self.predict_mel(log_mel(y, self.frontend))
        if not self.track_heads:
            return out
        from audiotaste.features import tonal

        k = tonal.key(y, self.frontend.sr)
        tags = self.apply_track_head(out.tags, mode=1 if k.mode is None else k.mode, key_confidence=k.confidence,
                                     key=-1 if k.key is None else k.key)  # -1: no key, no key input
        return replace(out, tags=tags)

    def predict_file(self, path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
        """Whole-track tags of an audio file: ``{"genre": {"rock": 0.91, ...}, "mood": {...}}``."""
        return self.predict_audio(load_mono(path, self.frontend.sr)).tags

    def stream(self) -> TagStream:
        """Keeps the signal and tags it whole at the end (the track head reads the whole key)."""
        return CollectingStream(self)


#: The concrete class's name before the :class:`~audiotaste.tagger.Tagger` protocol took it; kept so that
#: ``from audiotaste.tagger.infer import Tagger`` still builds a CNN tagger.
Tagger = CnnTagger


def _resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return y
    import soxr

    return np.asarray(soxr.resample(y, sr_in, sr_out), dtype=np.float32)


def log_mel(y: np.ndarray, frontend: FrontEnd, *, chunk_frames: int = _CHUNK_FRAMES) -> np.ndarray:
    """The tagger's log-mel of a signal, computed in blocks of STFT frames to bound memory.

    Equal (to float rounding) to ``melspectrogram(y, ...)`` over the whole signal: each block is cut
    with two hops of context on both sides, so every frame sees the same samples, and the dB floor
    (``top_db`` below the peak) is applied once over the whole track.

    Parameters
    ----------
    y : np.ndarray [n_samples]
        Mono signal at ``frontend.sr``.

    Returns
    -------
    np.ndarray [n_mels, n_frames], float32, dB
    """
    fe = frontend
    y = np.asarray(y, dtype=np.float32)
    n_frames = 1 + len(y) // fe.hop_length
    ctx = -(-(fe.n_fft // 2) // fe.hop_length)  # frames of context each side
    blocks = []
    for f0 in range(0, n_frames, chunk_frames):
        f1 = min(n_frames, f0 + chunk_frames)
        first = max(0, f0 - ctx)
        seg = y[first * fe.hop_length : (f1 + ctx) * fe.hop_length]
        spec = stft_power(seg, sr=fe.sr, n_fft=fe.n_fft, hop_length=fe.hop_length)
        frames = replace(spec, power=spec.power[:, f0 - first : f1 - first])
        blocks.append(melspectrogram(spectrum=frames, n_mels=fe.n_mels, fmin=fe.fmin, fmax=fe.fmax, top_db=None))
    db = np.concatenate(blocks, axis=1)
    np.maximum(db, db.max() - fe.top_db, out=db)  # the floor is relative to the whole track's peak
    return db
