"""musicnn (Pons & Serra, 2019) in PyTorch, running the published MagnaTagATune and Million Song Dataset weights.

The architecture and the front end follow the ``musicnn==0.1.0`` wheel (``musicnn/models.py``,
``extractor.py``, ``configuration.py``) line by line:

front end (audio → log-mel)
    16 kHz mono, ``|STFT|²`` with a 512-sample periodic Hann window, hop 256, centred with zero padding
    (librosa ≥ 0.10's ``melspectrogram`` defaults), 96 Slaney mel bands, the mel power rounded to
    float16 (musicnn stores it so, and with numpy < 2 computes the rest in float32), then
    ``log10(10000·x + 1)``; cut into non-overlapping 3-s patches of 187 frames. (The models were
    trained with an older librosa whose centring padded by reflection: only the first and last frame
    of a file differ.)
network (patch [187, 96] → 50 tags)
    input batch norm; "musically motivated" convolutions: two timbral ones (7 frames × 38 and × 67 mel
    bands, 204 filters each, time padded by 3) and three temporal ones (128, 64 and 32 frames × 1 band,
    51 filters each, TensorFlow ``same`` padding), each ReLU → batch norm → max over frequency; a dense
    mid end of three 7-frame 1-D convolutions (64 filters, ReLU → batch norm, residual from the second);
    the back end pools the concatenation of front and mid end (561 + 3·64 = 753 channels) by max and mean
    over time, then batch norm → dense 200 → ReLU → batch norm (the **penultimate** layer, the embedding)
    → dense 50 → sigmoid. Batch-norm epsilon is TensorFlow's 0.001.

Weights come from :func:`audiotaste.tagger.fetch.fetch_musicnn` (nothing is downloaded here).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audiotaste.errors import InputError, ModelError

__all__ = [
    "FRONT_END",
    "MODEL_NAMES",
    "MSD_LABELS",
    "MTT_LABELS",
    "MusicnnNet",
    "MusicnnStream",
    "MusicnnTagger",
    "load_musicnn",
    "musicnn_logmel",
    "musicnn_patches",
    "state_dict_from_tf",
]

SR = 16000  # Hz
N_FFT = 512  # samples (32 ms)
HOP_LENGTH = 256  # samples (16 ms)
N_MELS = 96
PATCH_FRAMES = 187  # 3 s: librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1

#: What a model card's ``front_end`` must say for this implementation to be the right one.
FRONT_END: dict[str, Any] = {
    "sr": SR,
    "n_fft": N_FFT,
    "hop_length": HOP_LENGTH,
    "window": "hann",
    "center": True,
    "pad_mode": "constant",
    "n_mels": N_MELS,
    "mel_norm": "slaney",
    "htk": False,
    "power": 2.0,
    "mel_dtype": "float16",
    "log": "log10(10000*x + 1)",
    "patch_frames": PATCH_FRAMES,
    "patch_hop_frames": PATCH_FRAMES,
}

# musicnn/configuration.py, in output order.
MTT_LABELS = ["guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral"]  # fmt: skip
MSD_LABELS = ["rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy"]  # fmt: skip

#: Our model name -> (checkpoint folder in the wheel, labels).
MODEL_NAMES: dict[str, tuple[str, list[str]]] = {
    "musicnn-mtt": ("MTT_musicnn", MTT_LABELS),
    "musicnn-msd": ("MSD_musicnn", MSD_LABELS),
}


# --- front end ------------------------------------------------------------------------------------
def musicnn_logmel(y: np.ndarray, *, chunk_frames: int = 8192) -> np.ndarray:
    """musicnn's log-mel spectrogram of a 16 kHz mono signal.

    Parameters
    ----------
    y : np.ndarray [n_samples]
        Mono signal at 16 kHz, float in [-1, 1].
    chunk_frames : int
        Frames transformed at once (8192 frames = 131 s, ~17 MB), so that hour-long files do not
        hold their whole complex STFT in memory. Does not change the result.

    Returns
    -------
    np.ndarray [1 + n_samples // 256, 96], float32
        ``log10(10000·mel + 1)`` with ``mel`` the float16-rounded Slaney mel power; frames every 16 ms,
        centred (``librosa.feature.melspectrogram`` defaults).
    """
    signal = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    n_frames = 1 + signal.numel() // HOP_LENGTH
    padded = F.pad(
        signal, (N_FFT // 2, N_FFT // 2)
    )  # centred frames, zero padding (librosa >= 0.10)
    fb, window = _front_end_tensors()
    out = torch.empty(n_frames, N_MELS)
    with torch.inference_mode():
        for f0 in range(0, n_frames, chunk_frames):
            f1 = min(f0 + chunk_frames, n_frames)
            seg = padded[f0 * HOP_LENGTH : (f1 - 1) * HOP_LENGTH + N_FFT]
            out[f0:f1] = _logmel_frames(seg, fb, window)
    return out.numpy()


def _front_end_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """The Slaney mel filterbank [96, 257] and the periodic Hann window [512] of the front end."""
    from audiotaste.features.spectrum import mel_filterbank

    fb = torch.tensor(mel_filterbank(sr=SR, n_fft=N_FFT, n_mels=N_MELS))
    return fb, torch.hann_window(N_FFT, periodic=True)


def _logmel_frames(seg: torch.Tensor, fb: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Log-mel frames [k, 96] of ``seg``, a slice of the zero-padded signal holding k whole frames.

    The one place the front end is computed, so that :func:`musicnn_logmel` and
    :class:`MusicnnStream` give the same numbers for the same samples.
    """
    with torch.inference_mode():
        spec = torch.stft(seg, N_FFT, HOP_LENGTH, window=window, center=False, return_complex=True)
        mel = (fb @ (spec.real.square() + spec.imag.square())).T  # [k, 96]
        # musicnn stores the mel power as float16 (and with numpy < 2 computes the rest in float32)
        return torch.log10(10000.0 * mel.half().float() + 1.0)


def musicnn_patches(logmel: np.ndarray, *, hop: int = PATCH_FRAMES) -> np.ndarray:
    """Cut a log-mel spectrogram into musicnn's 187-frame (3 s) patches.

    Parameters
    ----------
    logmel : np.ndarray [n_frames, 96]
    hop : int
        Frames between patch starts (187: no overlap, as ``musicnn.extractor`` by default).

    Returns
    -------
    np.ndarray [n_patches, 187, 96], float32
        Patches that fit entirely; a clip shorter than one patch is repeated to fill it (musicnn's
        training used "repeat-pad"; its extractor would fail instead).
    """
    n = logmel.shape[0]
    if n == 0:
        return np.zeros((0, PATCH_FRAMES, N_MELS), np.float32)
    if n < PATCH_FRAMES:
        logmel = np.tile(logmel, (-(-PATCH_FRAMES // n), 1))
        n = logmel.shape[0]
    starts = range(0, n - PATCH_FRAMES + 1, hop)
    return np.stack([logmel[s : s + PATCH_FRAMES] for s in starts]).astype(np.float32, copy=False)


# --- network --------------------------------------------------------------------------------------
def _bn2d(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3)  # TensorFlow's default epsilon, not torch's 1e-5


def _bn1d(c: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(c, eps=1e-3)


class MusicnnNet(nn.Module):
    """The musicnn network (``build_musicnn`` with 64 mid-end filters and 200 back-end units).

    Parameters
    ----------
    n_mels : int
        Mel bands of the input.
    n_classes : int
        Output tags.
    n_filt_midend, n_units_backend : int
        Mid-end filters and penultimate width.
    n_timbral, n_temporal : int
        Filters of each timbral and each temporal front-end convolution (musicnn's 204 and 51; a
        pruned student keeps fewer, see :func:`audiotaste.tagger.distill.prune_musicnn`).
    """

    temporal_lengths = (128, 64, 32)  # frames

    def __init__(
        self,
        *,
        n_mels: int = N_MELS,
        n_classes: int = 50,
        n_filt_midend: int = 64,
        n_units_backend: int = 200,
        n_timbral: int = int(1.6 * 128),  # 204
        n_temporal: int = int(1.6 * 32),  # 51
    ) -> None:
        super().__init__()
        self.n_mels, self.n_timbral, self.n_temporal = n_mels, n_timbral, n_temporal
        self.n_filt_midend = n_filt_midend
        self.bn_input = _bn2d(1)
        self.timbral = nn.ModuleList(
            nn.Conv2d(1, n_timbral, (7, int(frac * n_mels))) for frac in (0.4, 0.7)
        )
        self.timbral_bn = nn.ModuleList(_bn2d(n_timbral) for _ in range(2))
        self.temporal = nn.ModuleList(
            nn.Conv2d(1, n_temporal, (k, 1)) for k in self.temporal_lengths
        )
        self.temporal_bn = nn.ModuleList(_bn2d(n_temporal) for _ in self.temporal_lengths)
        n_front = 2 * n_timbral + 3 * n_temporal  # 561
        self.midend = nn.ModuleList(
            nn.Conv1d(c, n_filt_midend, 7) for c in (n_front, n_filt_midend, n_filt_midend)
        )
        self.midend_bn = nn.ModuleList(_bn1d(n_filt_midend) for _ in range(3))
        n_pool = 2 * (n_front + 3 * n_filt_midend)  # 1506
        self.pool_bn = _bn1d(n_pool)
        self.dense = nn.Linear(n_pool, n_units_backend)
        self.dense_bn = _bn1d(n_units_backend)
        self.out = nn.Linear(n_units_backend, n_classes)

    def _conv_relu_bn_freqmax(
        self, x: torch.Tensor, conv: nn.Module, bn: nn.Module
    ) -> torch.Tensor:
        """``max over frequency of BN(ReLU(conv(x)))``: [B, 1, T', F] -> [B, C, T].

        In inference ReLU and batch norm are monotone per channel (decreasing where gamma < 0), so the
        max can be taken first, on the conv output, and the rest runs on a tensor F times smaller. A
        decreasing channel needs the min instead: its filter is negated (exact in floating point) so
        that one fast ``amax`` serves all channels. Same result as the plain order, twice as fast.
        """
        if self.training:
            return bn(F.relu(conv(x))).amax(dim=3)
        assert isinstance(conv, nn.Conv2d) and conv.bias is not None
        assert (
            isinstance(bn, nn.BatchNorm2d)
            and bn.running_var is not None
            and bn.running_mean is not None
        )
        sign = torch.where(bn.weight >= 0, 1.0, -1.0)  # [C]
        z = F.conv2d(x, conv.weight * sign[:, None, None, None], conv.bias * sign)  # [B, C, T, F]
        picked = F.relu(z.amax(dim=3) * sign[:, None])  # [B, C, T]
        return F.batch_norm(
            picked, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tag logits and penultimate embedding of log-mel patches.

        Parameters
        ----------
        x : torch.Tensor [batch, n_frames, n_mels]

        Returns
        -------
        logits : torch.Tensor [batch, n_classes]
        penultimate : torch.Tensor [batch, n_units_backend]
        """
        return self.back(self.front(x))

    def back(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mid end and back end on the front end's output [B, 561, T]: (logits, penultimate)."""
        feats = [h]
        for i, (conv, bn) in enumerate(zip(self.midend, self.midend_bn, strict=True)):
            m = bn(F.relu(conv(F.pad(feats[-1], (3, 3)))))  # [B, 64, T]
            feats.append(m if i == 0 else m + feats[-1])
        h = torch.cat(feats, dim=1)  # [B, 753, T]
        # TensorFlow flattens [B, 753, (max, mean)], so the two pools interleave per channel.
        pooled = torch.stack([h.amax(dim=2), h.mean(dim=2)], dim=2).flatten(1)  # [B, 1506]
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))  # [B, 200]
        return self.out(penultimate), penultimate

    def front(self, x: torch.Tensor) -> torch.Tensor:
        """The front end's output: [batch, n_frames, n_mels] -> [batch, 2·n_timbral + 3·n_temporal, n_frames]."""
        x = self.bn_input(x.unsqueeze(1))  # [B, 1, T, 96]
        front = []
        padded = F.pad(x, (0, 0, 3, 3))  # time only: frequency is pooled away afterwards
        for conv, bn in zip(self.timbral, self.timbral_bn, strict=True):
            front.append(self._conv_relu_bn_freqmax(padded, conv, bn))  # [B, 204, T]
        for k, conv, bn in zip(self.temporal_lengths, self.temporal, self.temporal_bn, strict=True):
            # TensorFlow 'same' padding puts the odd extra frame last
            same = F.pad(x, (0, 0, (k - 1) // 2, k // 2))
            front.append(self._conv_relu_bn_freqmax(same, conv, bn))  # [B, 51, T]
        return torch.cat(front, dim=1)  # [B, 561, T]


def state_dict_from_tf(tensors: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map the variables of a musicnn TensorFlow checkpoint onto :class:`MusicnnNet`'s state dict.

    ``tf.compat.v1.layers`` names layers by creation order (``conv2d``, ``conv2d_1``, ...,
    ``batch_normalization_10``); the order is that of ``musicnn.models.build_musicnn``.

    Raises
    ------
    KeyError
        A variable the network needs is absent.
    """
    convs = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2", "midend.0", "midend.1", "midend.2"]  # fmt: skip
    bns = ["bn_input", "timbral_bn.0", "timbral_bn.1", "temporal_bn.0", "temporal_bn.1", "temporal_bn.2", "midend_bn.0", "midend_bn.1", "midend_bn.2", "pool_bn", "dense_bn"]  # fmt: skip
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(convs):
        tf_name = "conv2d" if i == 0 else f"conv2d_{i}"
        kernel = tensors[f"{tf_name}/kernel"]  # [kh, kw, in, out]
        if name.startswith("midend"):
            out[f"{name}.weight"] = kernel[:, :, 0, :].transpose(2, 1, 0)  # [out, in=kw, kh]
        else:
            out[f"{name}.weight"] = kernel.transpose(3, 2, 0, 1)  # [out, in, kh, kw]
        out[f"{name}.bias"] = tensors[f"{tf_name}/bias"]
    for i, name in enumerate(bns):
        tf_name = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
        out[f"{name}.weight"] = tensors[f"{tf_name}/gamma"]
        out[f"{name}.bias"] = tensors[f"{tf_name}/beta"]
        out[f"{name}.running_mean"] = tensors[f"{tf_name}/moving_mean"]
        out[f"{name}.running_var"] = tensors[f"{tf_name}/moving_variance"]
    for name, tf_name in (("dense", "dense"), ("out", "dense_1")):
        out[f"{name}.weight"] = tensors[f"{tf_name}/kernel"].T  # [out, in]
        out[f"{name}.bias"] = tensors[f"{tf_name}/bias"]
    state = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in out.items()}
    for name in bns:
        state[f"{name}.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)
    return state


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

    sr = SR
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
        save_file(state, str(d / ".model.safetensors.tmp"), metadata={"format": "pt"})
        os.chmod(d / ".model.safetensors.tmp", 0o644)  # safetensors creates it owner-only
        os.replace(d / ".model.safetensors.tmp", d / "model.safetensors")
        (d / ".card.json.tmp").write_text(json.dumps(card, indent=2) + "\n")
        os.replace(d / ".card.json.tmp", d / "card.json")
        return d

    def _run(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
        return self._run(mel)[0]

    def embed_patches(self, mel: np.ndarray) -> np.ndarray:
        """The 200-d penultimate layer (batch-normalised dense ReLU) of each patch: [n, 200], float32."""
        return self._run(mel)[1]

    @property
    def label_names(self) -> tuple[str, ...]:
        """Flattened ``"tag.<name>"`` column names of every per-patch array."""
        return tuple(f"tag.{name}" for name in self.labels["tag"])

    def audio_patches(
        self, y: np.ndarray, *, sr: int = SR, path: str | os.PathLike[str] | None = None
    ) -> np.ndarray:
        """musicnn's patches [n, 187, 96] of a mono signal (resampled to 16 kHz with soxr if needed)."""
        from audiotaste.errors import EmptyAudioError

        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1 or y.size == 0:
            raise EmptyAudioError(path, f"expected a non-empty mono signal, got shape {y.shape}")
        if sr != SR:
            import soxr

            y = soxr.resample(y, sr, SR).astype(np.float32, copy=False)
        return musicnn_patches(musicnn_logmel(y))

    def predict_audio(self, y: np.ndarray, *, sr: int = SR) -> Any:
        """Tags, embedding and per-patch tags of a mono signal.

        Parameters
        ----------
        y : np.ndarray [n_samples]
            Mono signal.
        sr : int
            Its sample rate, Hz (resampled to 16 kHz when different).

        Returns
        -------
        audiotaste.tagger.infer.TaggerOutput
            ``tags = {"tag": {...}}`` and ``embedding`` are means over 3-s patches (as
            ``musicnn.tagger.top_tags``); ``patch_times`` are patch starts in seconds.
        """
        from audiotaste.tagger.infer import TaggerOutput

        patches = self.audio_patches(y, sr=sr)
        probs, embs = self._run(patches)
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

    def _load(self, path: str | os.PathLike[str]) -> np.ndarray:
        from audiotaste.audio import load

        return load(path, sr=SR, mono=True)[0]

    def predict_file(self, path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
        """Track-level tags ``{"tag": {name: probability}}``: the mean over 3-s patches."""
        y = self._load(path)
        probs = self.predict_patches(self.audio_patches(y, path=path)).mean(axis=0)
        return {"tag": {name: float(p) for name, p in zip(self.labels["tag"], probs, strict=True)}}

    def embed_file(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Track-level embedding: the mean penultimate layer over patches, [200] float32."""
        return self.embed_patches(self.audio_patches(self._load(path), path=path)).mean(axis=0)


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
        self._fb, self._window = _front_end_tensors()
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
        frames = _logmel_frames(seg, self._fb, self._window).numpy()
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
            probs, embs = self.tagger._run(self._patches[:ready])
            self._probs.append(probs)
            self._embs.append(embs)
            self._patches = self._patches[ready:]

    def finish(self) -> Any:
        """The tags of everything fed: an :class:`~audiotaste.tagger.infer.TaggerOutput`.

        Raises
        ------
        EmptyAudioError
            Nothing was fed.
        """
        from audiotaste.errors import EmptyAudioError
        from audiotaste.tagger.infer import TaggerOutput

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
