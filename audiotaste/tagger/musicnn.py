"""musicnn (Pons & Serra, 2019) as a :class:`~audiotaste.tagger.Tagger`: the published MagnaTagATune and
Million Song Dataset weights on the PyTorch port of :mod:`audiotaste.tagger.musicnn_net`.

The network, the front end and their constants live in :mod:`audiotaste.tagger.musicnn_net` and are
re-exported here; this module holds the tagger, its stream, and loading by name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audiotaste._io import atomic_path, atomic_write_json
from audiotaste.errors import EmptyAudioError, InputError, ModelError

from .base import TaggerOutput, load_mono
from .musicnn_net import (
    FRONT_END,
    HOP_LENGTH,
    MODEL_NAMES,
    MSD_LABELS,
    MTT_LABELS,
    N_FFT,
    N_MELS,
    PATCH_FRAMES,
    SR,
    MusicnnNet,
    front_end_tensors,
    logmel_frames,
    musicnn_logmel,
    musicnn_patches,
    state_dict_from_tf,
)

if TYPE_CHECKING:
    from audiotaste.features.spectrum import Spectrum

__all__ = [
    "FRONT_END",
    "HOP_LENGTH",
    "MODEL_NAMES",
    "MSD_LABELS",
    "MTT_LABELS",
    "N_FFT",
    "N_MELS",
    "PATCH_FRAMES",
    "SR",
    "MusicnnNet",
    "MusicnnStream",
    "MusicnnTagger",
    "load_musicnn",
    "musicnn_logmel",
    "musicnn_patches",
    "state_dict_from_tf",
]


# --- the tagger -----------------------------------------------------------------------------------
class MusicnnTagger:
    """A musicnn model with the :class:`~audiotaste.tagger` ``Tagger`` interface.

    Parameters
    ----------
    net : MusicnnNet
        Network with loaded weights.
    card : mapping
        The model card (``labels``, ``front_end``, provenance).
    batch_size : int
        Patches per forward pass. Small batches are fastest on CPU (the front end's [B, 204, 187, 59]
        activations stay in cache: 1.6x faster than 20 at once on one thread here) and bound memory.

    Attributes
    ----------
    labels : dict
        ``{"tag": [50 names]}``, in output order.
    name : str
    card : dict
    """

    patch_frames = PATCH_FRAMES

    def __init__(self, net: MusicnnNet, card: Mapping[str, Any], *, batch_size: int = 2) -> None:
        self.net = net.eval()
        self.card = dict(card)
        self.name = str(card.get("name", "musicnn"))
        self.version = str(card.get("version", ""))
        self.labels: dict[str, list[str]] = {"tag": list(card["labels"]["tag"])}
        self.batch_size = batch_size

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str]) -> MusicnnTagger:
        """Load a model folder written by :func:`~audiotaste.tagger.fetch.fetch_musicnn`.

        Raises
        ------
        ModelError
            Missing or unreadable ``card.json`` / ``model.safetensors``, a card whose front end is not
            musicnn's, or weights that do not fit the network.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        d = Path(model_dir)
        card_path, weights_path = d / "card.json", d / "model.safetensors"
        for p in (card_path, weights_path):
            if not p.is_file():
                raise ModelError(p, "model file is missing; run `audiotaste models fetch musicnn`")
        try:
            card = json.loads(card_path.read_text())
            labels = card["labels"]["tag"]
            front_end = card["front_end"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelError(card_path, f"unreadable model card ({e})") from None
        if card.get("architecture") != "musicnn" or front_end != FRONT_END:
            raise ModelError(
                card_path, "model card does not describe musicnn's architecture and front end"
            )
        try:
            state = load_file(weights_path)
        except (SafetensorError, OSError, ValueError) as e:
            raise ModelError(weights_path, f"unreadable weights ({e})") from None
        widths = card.get("widths", {})
        try:
            net = MusicnnNet(
                n_classes=len(labels),
                n_timbral=int(widths.get("n_timbral", 204)),
                n_temporal=int(widths.get("n_temporal", 51)),
            )
        except (TypeError, ValueError, RuntimeError) as e:
            raise ModelError(card_path, f"bad widths in the model card ({e})") from None
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ModelError(
                weights_path, f"weights do not fit the musicnn network: {str(e)[:300]}"
            ) from None
        return cls(net, card)

    def save(self, model_dir: str | os.PathLike[str]) -> Path:
        """Write ``card.json`` and ``model.safetensors`` to ``model_dir`` (created if missing), in the
        layout :meth:`load` reads; each file appears whole (written aside, then renamed).

        The card is this tagger's, with ``architecture`` and ``front_end`` set to musicnn's.
        """
        from safetensors.torch import save_file

        d = Path(model_dir)
        d.mkdir(parents=True, exist_ok=True)
        card = {**self.card, "name": self.name, "version": self.version, "architecture": "musicnn",
                "labels": {"tag": list(self.labels["tag"])}, "front_end": FRONT_END,
                "widths": {"n_timbral": self.net.n_timbral, "n_temporal": self.net.n_temporal}}
        state = {k: v.contiguous() for k, v in self.net.state_dict().items()}
        with atomic_path(d / "model.safetensors") as tmp:
            save_file(state, str(tmp), metadata={"format": "pt"})
        atomic_write_json(d / "card.json", card, indent=2)
        return d

    @property
    def sr(self) -> int:
        """16 kHz: musicnn's front end."""
        return SR

    def predict_and_embed_patches(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict_patches` and :meth:`embed_patches` in one pass: probabilities [n, n_tags]
        and penultimate embeddings [n, 200] of log-mel patches [n, 187, 96]."""
        mel = np.asarray(mel, dtype=np.float32)
        if mel.ndim == 2:
            mel = mel[None]
        if mel.ndim != 3 or mel.shape[2] != N_MELS or mel.shape[1] < 1:
            raise InputError(
                None,
                f"musicnn expects log-mel patches [n, {PATCH_FRAMES}, {N_MELS}], got {mel.shape}",
            )
        if not np.isfinite(mel).all():
            raise InputError(None, "log-mel patches contain NaN or infinite values")
        n_out = len(self.labels["tag"])
        probs, embs = (
            [np.zeros((0, n_out), np.float32)],
            [np.zeros((0, self.net.dense.out_features), np.float32)],
        )
        with torch.inference_mode():
            for s in range(0, len(mel), self.batch_size):
                logits, pen = self.net(torch.from_numpy(mel[s : s + self.batch_size]))
                probs.append(torch.sigmoid(logits).numpy())
                embs.append(pen.numpy())
        return np.concatenate(probs), np.concatenate(embs)

    def predict_patches(self, mel: np.ndarray) -> np.ndarray:
        """Tag probabilities of log-mel patches.

        Parameters
        ----------
        mel : np.ndarray [n, 187, 96]
            Patches from :func:`musicnn_patches` (musicnn pools over time, so other lengths run too,
            but the models were trained on 3 s).

        Returns
        -------
        np.ndarray [n, 50], float32
            Independent sigmoid probabilities, columns in ``labels["tag"]`` order.
        """
        return self.predict_and_embed_patches(mel)[0]

    def embed_patches(self, mel: np.ndarray) -> np.ndarray:
        """The 200-d penultimate layer (batch-normalised dense ReLU) of each patch: [n, 200], float32."""
        return self.predict_and_embed_patches(mel)[1]

    @property
    def label_names(self) -> tuple[str, ...]:
        """Flattened ``"tag.<name>"`` column names of every per-patch array."""
        return tuple(f"tag.{name}" for name in self.labels["tag"])

    def audio_patches(
        self, y: np.ndarray, *, sr: int = SR, path: str | os.PathLike[str] | None = None
    ) -> np.ndarray:
        """musicnn's patches [n, 187, 96] of a mono signal (resampled to 16 kHz with soxr if needed)."""
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1 or y.size == 0:
            raise EmptyAudioError(path, f"expected a non-empty mono signal, got shape {y.shape}")
        if sr != SR:
            import soxr

            y = soxr.resample(y, sr, SR).astype(np.float32, copy=False)
        return musicnn_patches(musicnn_logmel(y))

    def predict_audio(self, y: np.ndarray, *, sr: int | None = None) -> TaggerOutput:
        """Tags, embedding and per-patch tags of a mono signal.

        Parameters
        ----------
        y : np.ndarray [n_samples]
            Mono signal.
        sr : int
            Its sample rate, Hz (resampled to 16 kHz when different).

        Returns
        -------
        audiotaste.tagger.TaggerOutput
            ``tags = {"tag": {...}}`` and ``embedding`` are means over 3-s patches (as
            ``musicnn.tagger.top_tags``); ``patch_times`` are patch starts in seconds.
        """
        patches = self.audio_patches(y, sr=sr or SR)
        probs, embs = self.predict_and_embed_patches(patches)
        mean = probs.mean(axis=0)
        return TaggerOutput(
            tags={
                "tag": {name: float(p) for name, p in zip(self.labels["tag"], mean, strict=True)}
            },
            embedding=embs.mean(axis=0),
            patch_probs=probs,
            patch_times=np.arange(len(patches)) * (PATCH_FRAMES * HOP_LENGTH / SR),
            label_names=self.label_names,
        )

    def stream(self, chunk_frames: int = 8192) -> MusicnnStream:
        """An accumulator that tags a 16 kHz signal fed in pieces (see :class:`MusicnnStream`)."""
        return MusicnnStream(self, chunk_frames=chunk_frames)

    def predict_segment(self, y: np.ndarray, spectrum: Spectrum, mel_db: np.ndarray) -> TaggerOutput:
        """Tags of an analysis segment: musicnn hears ``y`` through its own 16 kHz front end."""
        return self.predict_audio(y, sr=spectrum.sr)

    def apply_track_head(
        self, tags: dict[str, dict[str, float]], *, mode: int, key_confidence: float, key: int = 0
    ) -> dict[str, dict[str, float]]:
        """musicnn has no track head: ``tags`` as they are (a copy)."""
        return {tax: dict(probs) for tax, probs in tags.items()}

    def predict_file(self, path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
        """Track-level tags ``{"tag": {name: probability}}``: the mean over 3-s patches."""
        y = load_mono(path, SR)
        probs = self.predict_patches(self.audio_patches(y, path=path)).mean(axis=0)
        return {"tag": {name: float(p) for name, p in zip(self.labels["tag"], probs, strict=True)}}

    def embed_file(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Track-level embedding: the mean penultimate layer over patches, [200] float32."""
        return self.embed_patches(self.audio_patches(load_mono(path, SR), path=path)).mean(axis=0)


class MusicnnStream:
    """Tags a mono 16 kHz signal that arrives in pieces, holding at most ~2 min of it.

    ``analyze`` decodes a file once, block by block; this lets musicnn listen along without keeping the
    whole signal (a 2-hour file at 16 kHz is 460 MB). The log-mel is computed in the same blocks of
    ``chunk_frames`` frames as :func:`musicnn_logmel`, and patches go through the network in the same
    pairs as :meth:`MusicnnTagger.predict_patches`, so for the same samples the result equals
    ``predict_audio`` on the whole signal exactly, not just to rounding.

    Parameters
    ----------
    tagger : MusicnnTagger
    chunk_frames : int
        Log-mel frames computed at once (8192 = 131 s of audio, 8 MB of samples held).
    """

    def __init__(self, tagger: MusicnnTagger, *, chunk_frames: int = 8192) -> None:
        self.tagger = tagger
        self.chunk_frames = chunk_frames
        self._fb, self._window = front_end_tensors()
        # Samples of the zero-padded signal not yet turned into frames (the pad centres frame 0).
        self._pieces: list[np.ndarray] = [np.zeros(N_FFT // 2, np.float32)]
        self._held = N_FFT // 2
        self._n_samples = 0
        self._frames = np.zeros((0, N_MELS), np.float32)  # frames not yet cut into a patch
        self._patches = np.zeros((0, PATCH_FRAMES, N_MELS), np.float32)  # waiting for a pair
        self._probs: list[np.ndarray] = []
        self._embs: list[np.ndarray] = []
        self._done = False

    def add(self, y: np.ndarray) -> None:
        """Feed the next samples (mono, 16 kHz, float32 in [-1, 1])."""
        if self._done:
            raise RuntimeError("MusicnnStream.add after finish")
        y = np.ascontiguousarray(y, dtype=np.float32).reshape(-1)
        if not y.size:
            return
        if not np.isfinite(y).all():
            raise InputError(None, "samples contain NaN or infinite values")
        self._pieces.append(y)
        self._held += y.size
        self._n_samples += y.size
        # A block of chunk_frames frames needs (chunk_frames - 1) hops plus one window of samples.
        need = (self.chunk_frames - 1) * HOP_LENGTH + N_FFT
        while self._held >= need:
            self._frames_from_buffer(self.chunk_frames)

    def _frames_from_buffer(self, n_frames: int) -> None:
        buf = np.concatenate(self._pieces) if len(self._pieces) > 1 else self._pieces[0]
        seg = torch.from_numpy(buf[: (n_frames - 1) * HOP_LENGTH + N_FFT])
        frames = logmel_frames(seg, self._fb, self._window).numpy()
        rest = buf[n_frames * HOP_LENGTH :]
        self._pieces, self._held = [rest], rest.size
        self._frames = np.concatenate([self._frames, frames]) if self._frames.size else frames
        self._cut(final=False)

    def _cut(self, *, final: bool) -> None:
        n = len(self._frames) // PATCH_FRAMES
        if n:
            new = self._frames[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, N_MELS)
            self._frames = self._frames[n * PATCH_FRAMES :]
            self._patches = np.concatenate([self._patches, new])
        # Run whole batches only, so batches are the ones predict_patches would form.
        ready = len(self._patches)
        if not final:
            ready -= ready % self.tagger.batch_size
        if ready:
            probs, embs = self.tagger.predict_and_embed_patches(self._patches[:ready])
            self._probs.append(probs)
            self._embs.append(embs)
            self._patches = self._patches[ready:]

    def finish(self) -> TaggerOutput:
        """The tags of everything fed: a :class:`~audiotaste.tagger.TaggerOutput`.

        Raises
        ------
        EmptyAudioError
            Nothing was fed.
        """
        if self._n_samples == 0:
            raise EmptyAudioError(None, "no samples to tag")
        if not self._done:
            self._done = True
            self._pieces.append(np.zeros(N_FFT // 2, np.float32))  # the right pad of centred frames
            self._held += N_FFT // 2
            # 1 + n // 256 frames in all; those not computed yet are what the buffer holds now
            self._frames_from_buffer((self._held - N_FFT) // HOP_LENGTH + 1)
            if not self._probs and not len(self._patches):
                # shorter than one patch: repeat it to fill one, as musicnn_patches does
                self._patches = musicnn_patches(self._frames)
            self._cut(final=True)
        probs, embs = np.concatenate(self._probs), np.concatenate(self._embs)
        mean = probs.mean(axis=0)
        return TaggerOutput(
            tags={"tag": {name: float(p) for name, p in zip(self.tagger.labels["tag"], mean, strict=True)}},
            embedding=embs.mean(axis=0),
            patch_probs=probs,
            patch_times=np.arange(len(probs)) * (PATCH_FRAMES * HOP_LENGTH / SR),
            label_names=self.tagger.label_names,
        )


def load_musicnn(name: str, cache_dir: str | os.PathLike[str] | None = None) -> MusicnnTagger:
    """Load a fetched musicnn model.

    Parameters
    ----------
    name : str
        ``"musicnn-mtt"`` or ``"musicnn-msd"`` (musicnn's own ``"MTT_musicnn"`` / ``"MSD_musicnn"`` work
        too), or the path of a model folder.
    cache_dir : path-like, optional
        The model cache (default: the user cache of :mod:`audiotaste._paths`).

    Raises
    ------
    ModelError
        Unknown name, or the model was not fetched (the message says how to fetch it).
    """
    from audiotaste._paths import cache_dir as default_cache

    aliases = {folder: ours for ours, (folder, _) in MODEL_NAMES.items()}
    key = aliases.get(name, name)
    if key in MODEL_NAMES:
        model_dir = Path(cache_dir if cache_dir is not None else default_cache()) / key
        if not model_dir.is_dir():
            raise ModelError(
                model_dir,
                f"{key} is not fetched; run `audiotaste models fetch musicnn` (needs PyPI once)",
            )
        return MusicnnTagger.load(model_dir)
    if Path(name).is_dir():
        return MusicnnTagger.load(name)
    raise ModelError(None, f"unknown musicnn model {name!r}; choose one of {sorted(MODEL_NAMES)}")
