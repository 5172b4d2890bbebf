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

Weights come from :func:`audiotaste.tagger.fetch.fetch_musicnn` (nothing is downloaded here); the tagger
around this network is :mod:`audiotaste.tagger.musicnn`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
    "logmel_frames",
    "front_end_tensors",
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
    fb, window = front_end_tensors()
    out = torch.empty(n_frames, N_MELS)
    with torch.inference_mode():
        for f0 in range(0, n_frames, chunk_frames):
            f1 = min(f0 + chunk_frames, n_frames)
            seg = padded[f0 * HOP_LENGTH : (f1 - 1) * HOP_LENGTH + N_FFT]
            out[f0:f1] = logmel_frames(seg, fb, window)
    return out.numpy()


def front_end_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """The Slaney mel filterbank [96, 257] and the periodic Hann window [512] of the front end."""
    from audiotaste.features.spectrum import mel_filterbank

    fb = torch.tensor(mel_filterbank(sr=SR, n_fft=N_FFT, n_mels=N_MELS))
    return fb, torch.hann_window(N_FFT, periodic=True)


def logmel_frames(seg: torch.Tensor, fb: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
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
