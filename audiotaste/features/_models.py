"""Small learned models behind ``rhythm.tempo`` and ``tonal.key`` (architectures and weight loading).

The training scripts (``scripts/train_tempo.py``, ``scripts/train_key.py``) import these classes, so the
package and the trainer cannot disagree about an architecture. Weights are safetensors files under
``models/features/``; a missing file makes the estimators fall back to their classical methods, a
corrupt or mismatching one raises ``ModelError``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audiotaste._paths import model_path
from audiotaste.errors import ModelError
from audiotaste.features.pitch import N_KEY_ROWS
from audiotaste.features.tempogram import N_MODEL_CHANNELS

TEMPO_WEIGHTS = "features/tempo.safetensors"
KEY_WEIGHTS = "features/key.safetensors"


class TempoNet(nn.Module):
    """Tempo classifier over a log-tempo axis (a learned octave decision over tempograms).

    Dilated 1-D convolutions along log-tempo see the relations between a candidate tempo and its
    multiples (an octave is 24 bins away) the same way at every tempo; a learned per-bin bias is the
    tempo prior. A second head reads the hidden features at the chosen tempo to decide the meter.

    Input: tempogram features [batch, n_channels, n_low + n_bins]; output: tempo logits
    [batch, n_bins] (the ``n_low`` lowest feature bins are seen, not predicted).
    """

    def __init__(
        self, n_channels: int, n_bins: int, *, n_low: int = 0, width: int = 32,
        dilations: tuple[int, ...] = (1, 2, 4, 8, 16),
    ) -> None:
        super().__init__()
        self.n_low = n_low
        self.inp = nn.Conv1d(n_channels, width, kernel_size=5, padding=2)
        self.body = nn.ModuleList(
            nn.Conv1d(width, width, kernel_size=3, padding=d, dilation=d) for d in dilations
        )
        self.out = nn.Conv1d(width, 1, kernel_size=1)
        self.prior = nn.Parameter(torch.zeros(n_bins))
        self.meter = nn.Linear(width, 2)  # logits for (triple, duple) read at the chosen tempo bin

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.inp(x))  # [B, width, n_low + n_bins]
        for conv in self.body:
            h = h + torch.relu(conv(h))  # residual keeps a 5-layer stack trainable on a small corpus
        h = h[:, :, self.n_low :]  # [B, width, n_bins]
        return self.out(h)[:, 0, :] + self.prior, h

    def meter_logits(self, h: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
        """[B, 2] meter logits from hidden features ``h`` [B, width, n_bins] at ``bins`` [B]."""
        picked = h[torch.arange(h.shape[0]), :, bins]  # [B, width]
        return self.meter(picked)


class KeyNet(nn.Module):
    """Transposition-equivariant key classifier.

    The same small MLP scores "tonic = k, major" and "tonic = k, minor" from the pitch-class features
    rotated so that k comes first; 12 rotations give 24 logits. Transposing the input rotates the
    output, so every training clip teaches all 12 tonics.

    Input: [batch, n_rows, 12], of which the model reads ``rows`` (a buffer saved with the weights;
    default the first ``n_blocks + 12 * n_matrices``): ``n_blocks`` pitch-class feature blocks (each
    sums to 1), then ``n_matrices`` 12 x 12 pitch-class matrices (each sums to 1) whose rows and
    columns both rotate. Output: [batch, 24] logits, majors (C..B) then minors (C..B).
    """

    rows: torch.Tensor

    def __init__(
        self, n_blocks: int, *, hidden: int = 48, n_matrices: int = 0, rows: tuple[int, ...] | None = None
    ) -> None:
        super().__init__()
        self.n_blocks = n_blocks
        self.n_matrices = n_matrices
        n_read = n_blocks + 12 * n_matrices
        if rows is not None and len(rows) != n_read:
            raise ValueError(f"rows must name {n_read} feature rows, got {len(rows)}")
        self.register_buffer("rows", torch.tensor(rows if rows is not None else range(n_read), dtype=torch.long))
        n_in = n_blocks * 12 + 144 * n_matrices
        self.mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, self.rows]  # [B, n_blocks + 12 * n_matrices, 12]
        idx = (torch.arange(12)[:, None] + torch.arange(12)[None, :]) % 12  # [tonic, pc offset]
        blocks = 12.0 * x[:, : self.n_blocks] - 1.0  # centred on a uniform distribution
        rotated = blocks[:, :, idx]  # [B, n_blocks, 12 tonics, 12 offsets]
        parts = [rotated.permute(0, 2, 1, 3).reshape(x.shape[0], 12, -1)]  # [B, 12, n_blocks*12]
        for k in range(self.n_matrices):
            first = self.n_blocks + 12 * k
            m = 144.0 * x[:, first : first + 12] - 1.0  # [B, 12, 12]
            rot = m[:, idx[:, :, None], idx[:, None, :]]  # [B, 12 tonics, 12, 12]
            parts.append(rot.reshape(x.shape[0], 12, 144))
        scores = self.mlp(torch.cat(parts, dim=2))  # [B, 12, 2]
        return torch.cat([scores[:, :, 0], scores[:, :, 1]], dim=1)  # [B, 24]


class TempoEnsemble(nn.Module):
    """Several ``TempoNet`` members trained with different seeds; their probabilities are averaged.

    Same interface as ``TempoNet``: ``forward`` gives log mean-probabilities (usable as logits) and
    the members' hidden features, ``meter_logits`` the log mean meter probabilities at a bin.
    """

    def __init__(self, members: list[TempoNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        outs = [m(x) for m in self.members]
        return _mean_log_prob([o[0] for o in outs]), [o[1] for o in outs]

    def meter_logits(self, h: list[torch.Tensor], bins: torch.Tensor) -> torch.Tensor:
        members: list[TempoNet] = list(self.members)  # type: ignore[arg-type]
        return _mean_log_prob([m.meter_logits(hi, bins) for m, hi in zip(members, h, strict=True)])


class KeyEnsemble(nn.Module):
    """Several ``KeyNet`` members (each may read other feature rows); ``forward`` gives their log
    mean-probabilities [batch, 24]."""

    def __init__(self, members: list[KeyNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _mean_log_prob([m(x) for m in self.members])


def _mean_log_prob(logits: list[torch.Tensor]) -> torch.Tensor:
    """log of the mean of the softmaxes (the last axis): averaging probabilities, not logits, lets
    a confident member outvote unsure ones only as far as its probability goes."""
    stacked = torch.stack([torch.log_softmax(z, dim=-1) for z in logits])
    return torch.logsumexp(stacked, dim=0) - float(np.log(len(logits)))


def save_weights(module: nn.Module, path: str | Path, metadata: dict[str, str]) -> None:
    """Write a module's parameters as safetensors with string metadata (the constructor config)."""
    from safetensors.torch import save_file

    # clone: ensemble members may share tensors, which safetensors refuses to write
    save_file({k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}, str(path),
              metadata=metadata)


def _load(relative: str) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
    path = model_path(relative)
    if not path.exists():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except Exception as exc:  # safetensors raises several unrelated types for a damaged file
        raise ModelError(path, f"cannot read model weights ({exc})") from None
    return tensors, meta


@lru_cache(maxsize=1)
def load_tempo_net() -> tuple[TempoNet | TempoEnsemble, dict[str, str]] | None:
    """The shipped tempo model and its metadata, or ``None`` when it is not installed."""
    loaded = _load(TEMPO_WEIGHTS)
    if loaded is None:
        return None
    tensors, meta = loaded
    try:
        def member() -> TempoNet:
            return TempoNet(
                int(meta["n_channels"]), int(meta["n_bins"]), n_low=int(meta.get("n_low", 0)),
                width=int(meta["width"]),
            )

        n = int(meta.get("n_models", 0))  # 0: a single TempoNet (no "members." prefix)
        net: TempoNet | TempoEnsemble = TempoEnsemble([member() for _ in range(n)]) if n else member()
        net.load_state_dict(tensors)
        if int(meta["n_channels"]) != N_MODEL_CHANNELS:
            raise ValueError(f"it reads {meta['n_channels']} channels, tempogram.model_input gives {N_MODEL_CHANNELS}")
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelError(model_path(TEMPO_WEIGHTS), f"weights do not match TempoNet ({exc})") from None
    return net.eval(), meta


@lru_cache(maxsize=1)
def load_key_net() -> tuple[KeyNet | KeyEnsemble, dict[str, str]] | None:
    """The shipped key model and its metadata, or ``None`` when it is not installed."""
    loaded = _load(KEY_WEIGHTS)
    if loaded is None:
        return None
    tensors, meta = loaded
    try:
        def member() -> KeyNet:
            return KeyNet(int(meta["n_blocks"]), hidden=int(meta["hidden"]), n_matrices=int(meta["n_matrices"]))

        n = int(meta.get("n_models", 0))  # 0: a single KeyNet (no "members." prefix)
        net: KeyNet | KeyEnsemble = KeyEnsemble([member() for _ in range(n)]) if n else member()
        net.load_state_dict(tensors)
        # a model trained on another feature layout would read the wrong rows without complaint
        members: list[KeyNet] = list(net.members) if isinstance(net, KeyEnsemble) else [net]  # type: ignore[arg-type]
        read = max(int(m.rows.max()) for m in members) + 1
        if read > N_KEY_ROWS:
            raise ValueError(f"it reads {read} feature rows, pitch.key_inputs gives {N_KEY_ROWS}")
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelError(model_path(KEY_WEIGHTS), f"weights do not match KeyNet ({exc})") from None
    return net.eval(), meta
