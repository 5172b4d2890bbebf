"""The tagger's network and the front end it expects.

The network is a plain 2-D CNN over ~3-s log-mel patches. It downsamples by 2 in both axes in each of
its first four layers so that most of the arithmetic happens on small maps: that is what makes a
3-minute track's 60 patches take ~30 ms on one CPU thread (``scripts/bench_tagger.py``). After the
convolutions the frequency axis is kept (flattened into channels, so register survives) and time is
pooled by mean and max, so the net accepts patches of any length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from audiotaste.constants import ANALYSIS_SR
from audiotaste.features.spectrum import HOP_LENGTH, N_FFT

__all__ = ["FrontEnd", "TaggerNet", "patch_starts", "cut_patches", "normalize_patches"]

#: dB step the log-mel is divided by after mean removal, so the input has roughly unit scale.
_DB_SCALE = 20.0


@dataclass(frozen=True)
class FrontEnd:
    """Log-mel front end of a tagger, recorded in its model card.

    Attributes
    ----------
    sr, n_fft, hop_length : int
        STFT parameters (Hz, samples, samples); must equal the analysis front end.
    n_mels : int
        Mel bands.
    fmin, fmax : float
        Mel band edges, Hz.
    top_db : float
        Dynamic range of the log-mel below the track's peak, dB.
    patch_frames : int
        Frames per patch (128 frames = 2.97 s).
    patch_hop_frames : int
        Hop between inference patches, frames.
    norm : str
        Input normalisation (:func:`normalize_patches`): ``"patch"`` removes each patch's mean dB,
        ``"band"`` (the default: it generalises better to an unseen SoundFont, see
        ``docs/BENCHMARKS.md``) each band's mean dB over the patch.
    """

    sr: int = ANALYSIS_SR
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = ANALYSIS_SR / 2.0
    top_db: float = 80.0
    patch_frames: int = 128
    patch_hop_frames: int = 128
    norm: str = "band"

    @property
    def patch_seconds(self) -> float:
        return self.patch_frames * self.hop_length / self.sr

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


class TaggerNet(nn.Module):
    """CNN with multi-label logits and an embedding.

    Parameters
    ----------
    n_labels : int
        Outputs of the (single, flattened) sigmoid layer; the card says which slice is which taxonomy.
    n_mels : int
        Mel bands of the input.
    channels, strides : sequence of int
        Conv layers (3x3, batch norm, ReLU); each stride applies to both axes.
    emb_dim : int
        Size of the embedding.
    dropout : float
        Dropout on the pooled features during training.
    """

    def __init__(
        self,
        n_labels: int,
        *,
        n_mels: int = 128,
        channels: Sequence[int] = (16, 32, 64, 128, 128),
        strides: Sequence[int] = (2, 2, 2, 2, 1),
        emb_dim: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, freq = 1, n_mels
        for c_out, stride in zip(channels, strides, strict=True):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in, freq = c_out, -(-freq // stride)
        self.convs = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.embed = nn.Linear(2 * c_in * freq, emb_dim)
        self.head = nn.Linear(emb_dim, n_labels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and embeddings of normalised patches.

        Parameters
        ----------
        x : torch.Tensor [batch, n_mels, n_frames]
            Output of :func:`normalize_patches`.

        Returns
        -------
        logits : torch.Tensor [batch, n_labels]
        embedding : torch.Tensor [batch, emb_dim]
        """
        h = self.convs(x.unsqueeze(1))  # [batch, C, F', T']
        h = h.flatten(1, 2)  # [batch, C*F', T']
        h = torch.cat([h.mean(-1), h.amax(-1)], dim=1)  # [batch, 2*C*F']
        emb = self.embed(self.dropout(h))  # [batch, emb_dim]
        return self.head(torch.relu(emb)), emb


def normalize_patches(patches: np.ndarray, norm: str = "band") -> np.ndarray:
    """Remove the mean dB so that gain does not change the input, and scale to about unit size.

    Parameters
    ----------
    patches : np.ndarray [n, n_mels, n_frames]
        Log-mel patches, dB.
    norm : {"patch", "band"}
        ``"patch"`` subtracts each patch's mean; ``"band"`` subtracts each band's mean over the patch's
        frames, which also removes a fixed spectral colouring (the instrument bank's EQ, a microphone).

    Returns
    -------
    np.ndarray [n, n_mels, n_frames], float32
    """
    patches = np.asarray(patches, dtype=np.float32)
    axes = (1, 2) if norm == "patch" else (2,)
    return (patches - patches.mean(axis=axes, keepdims=True)) / _DB_SCALE


def patch_starts(n_frames: int, patch_frames: int, hop_frames: int) -> np.ndarray:
    """First frame of each inference patch.

    Patches start every ``hop_frames``; when the track does not end on a patch boundary, one more patch
    is aligned to the track's end so that the tail is covered too. A track shorter than one patch gets a
    single patch starting at 0 (see :func:`cut_patches` for how it is filled).

    Returns
    -------
    np.ndarray [n_patches], int
    """
    if n_frames <= patch_frames:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_frames - patch_frames + 1, hop_frames, dtype=np.int64)
    if starts[-1] + patch_frames < n_frames:
        starts = np.append(starts, n_frames - patch_frames)
    return starts


def cut_patches(mel: np.ndarray, starts: np.ndarray, patch_frames: int) -> np.ndarray:
    """Copy patches out of a track's log-mel.

    A log-mel shorter than one patch is repeated (wrapped) until it fills the patch: a 1-s clip is
    tagged as if it were looped, which keeps its level and spectrum statistics, where padding with
    silence would not.

    Parameters
    ----------
    mel : np.ndarray [n_mels, n_frames]
    starts : np.ndarray [n_patches]
        From :func:`patch_starts`.

    Returns
    -------
    np.ndarray [n_patches, n_mels, patch_frames], float32
    """
    if mel.shape[1] < patch_frames:
        mel = np.pad(mel, ((0, 0), (0, patch_frames - mel.shape[1])), mode="wrap")
    index = starts[:, None] + np.arange(patch_frames)[None, :]  # [n_patches, patch_frames]
    return np.ascontiguousarray(mel[:, index].transpose(1, 0, 2), dtype=np.float32)
