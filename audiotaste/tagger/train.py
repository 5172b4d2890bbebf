"""Training a tagger: a plain, seeded, resumable loop over random patches of cached log-mels.

Every epoch draws its crops and augmentations from ``numpy.random.default_rng([seed, epoch])`` and seeds
torch (dropout) with ``seed, epoch`` too, so an epoch is a pure function of the weights it starts from:
a run resumed from a checkpoint ends with the same weights as one that never stopped. The checkpoint
(``checkpoint.safetensors`` in the output folder, rewritten atomically after every epoch) holds the
current and the best weights, the optimiser state, and the run's settings and history as metadata.

Model selection: the mean over heads of the validation macro ROC-AUC at track level (mean of patch
logits, as at inference); training stops after ``patience`` epochs without improvement. The best weights
are then calibrated (a temperature per head, fitted on the validation split) and written as
``model.safetensors`` + ``card.json``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from audiotaste._paths import cache_dir
from audiotaste.errors import InputError, ModelError

from .calibration import expected_calibration_error, fit_temperature, sigmoid
from .card import WEIGHTS_NAME, load_tensors, read_card, save_tensors, write_model
from .data import LabelledData, cached_mels, read_labelled
from .infer import CnnTagger
from .model import FrontEnd, TaggerNet, normalize_patches

__all__ = ["TrainConfig", "RunState", "train", "evaluate", "save_checkpoint", "load_checkpoint", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.safetensors"
MIN_CALIBRATION = 30  # validation clips needed to fit the temperatures


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (all recorded in the card and checked on ``resume``).

    Attributes
    ----------
    epochs : int
        Maximum epochs.
    patience : int
        Stop after this many epochs without a better validation score.
    batch_size : int
        Patches per step.
    crops_per_clip : int
        Random patches drawn from each training clip per epoch.
    lr, weight_decay : float
        AdamW settings; the learning rate follows a cosine from ``lr`` to 0 over ``epochs``.
    seed : int
        Seeds weights, crops, augmentation and dropout.
    augment : bool
        Random smooth EQ (±6 dB), band limiting (as for 8 kHz or MP3 input), added noise (10-30 dB SNR)
        and time/frequency masks; gain needs none since each patch's mean dB is removed.
    channels, strides, emb_dim, dropout
        Architecture, see :class:`TaggerNet`.
    n_mels, patch_frames, norm
        Front end, see :class:`FrontEnd`.
    """

    epochs: int = 40
    patience: int = 6
    batch_size: int = 64
    crops_per_clip: int = 4
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    augment: bool = True
    channels: tuple[int, ...] = (16, 32, 64, 128, 128)
    strides: tuple[int, ...] = (2, 2, 2, 2, 1)
    emb_dim: int = 128
    dropout: float = 0.3
    n_mels: int = 128
    patch_frames: int = 128
    norm: str = "band"

    @property
    def frontend(self) -> FrontEnd:
        return FrontEnd(
            n_mels=self.n_mels, patch_frames=self.patch_frames, patch_hop_frames=self.patch_frames, norm=self.norm
        )

    def architecture(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "strides": list(self.strides), "emb_dim": self.emb_dim, "dropout": self.dropout}


@dataclass
class RunState:
    """Progress of a training run, saved in its checkpoint (shared by tagger training and distillation)."""

    epoch: int = 0  # epochs completed
    best_score: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def end_epoch(
        self, record: dict[str, float], score: float, net: nn.Module, best: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Log an epoch, keep the best weights by ``score`` and count epochs without progress.

        Returns the best weights so far (``net``'s current ones when this epoch improved).
        """
        self.history.append(record)
        self.epoch += 1
        if score > self.best_score + 1e-4:
            self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
            return {k: v.clone() for k, v in net.state_dict().items()}
        self.bad_epochs += 1
        return best


def _augment(x: np.ndarray, rng: np.random.Generator, top_db: float) -> np.ndarray:
    """Random EQ, band limit, noise and masks on dB patches [batch, n_mels, n_frames] (in place).

    The held-out-SoundFont test asks for timbre invariance: a smooth random EQ curve (±6 dB at five
    control points) stands in for another instrument bank, the masks for missing parts.
    """
    n, m, t = x.shape
    knots = np.linspace(0, m - 1, 5)
    for i in range(n):
        if rng.random() < 0.8:
            x[i] += np.interp(np.arange(m), knots, rng.uniform(-6.0, 6.0, 5)).astype(np.float32)[:, None]
        if rng.random() < 0.2:  # band limit (8 kHz input, MP3): bands above the cut sit at the floor
            x[i, int(rng.integers(int(0.35 * m), m)) :] = x[i].max() - top_db
        if rng.random() < 0.2:  # white noise has a flat Slaney-normalised mel spectrum
            power = 10.0 ** (x[i] / 10.0)
            db = 10.0 * np.log10(power + power.mean() * 10.0 ** (-rng.uniform(10.0, 30.0) / 10.0))
            x[i] = np.maximum(db, db.max() - top_db)
        if rng.random() < 0.5:
            f0, w = int(rng.integers(0, m)), int(rng.integers(1, m // 8))
            x[i, f0 : f0 + w] = x[i].mean()
        if rng.random() < 0.5:
            t0, w = int(rng.integers(0, t)), int(rng.integers(1, t // 8))
            x[i, :, t0 : t0 + w] = x[i].mean()
    return x


def _batch(
    mels: list[np.ndarray], crops: np.ndarray, fe: FrontEnd, rng: np.random.Generator, augment: bool
) -> torch.Tensor:
    """Patches [batch, n_mels, patch] for (clip index, start frame) pairs, augmented and normalised."""
    x = np.stack([_crop(mels[c], s, fe.patch_frames) for c, s in crops]).astype(np.float32)
    if augment:
        x = _augment(x, rng, fe.top_db)
    return torch.from_numpy(normalize_patches(x, fe.norm))


def _crop(mel: np.ndarray, start: int, patch: int) -> np.ndarray:
    if mel.shape[1] < patch:
        return np.pad(mel, ((0, 0), (0, patch - mel.shape[1])), mode="wrap")
    return mel[:, start : start + patch]


def _track_logits(tagger: CnnTagger, mels: list[np.ndarray]) -> np.ndarray:
    """Uncalibrated track logits [n_tracks, n_labels]: mean of patch logits, as at inference."""
    out = []
    for mel in mels:
        out.append(tagger.patch_logits(mel)[0].mean(axis=0))
    return np.stack(out) if out else np.zeros((0, len(tagger.label_names)), dtype=np.float32)


def evaluate(probs: np.ndarray, targets: np.ndarray, labels: dict[str, list[str]]) -> dict[str, Any]:
    """Per-head macro ROC-AUC, per-label AUC and ECE of track-level probabilities.

    A label without both positives and negatives in ``targets`` has no AUC and is left out of the mean.
    """
    from sklearn.metrics import roc_auc_score

    out: dict[str, Any] = {"n": int(len(targets))}
    col = 0
    for tax, names in labels.items():
        p, y = probs[:, col : col + len(names)], targets[:, col : col + len(names)]
        col += len(names)
        per = {}
        for j, name in enumerate(names):
            if 0 < y[:, j].sum() < len(y):
                per[name] = float(roc_auc_score(y[:, j], p[:, j]))
        out[tax] = {
            "macro_auc": float(np.mean(list(per.values()))) if per else float("nan"),
            "auc": per,
            "ece": expected_calibration_error(p, y),
        }
    return out


def _score(metrics: dict[str, Any], labels: dict[str, list[str]]) -> float:
    aucs = [metrics[t]["macro_auc"] for t in labels if not math.isnan(metrics[t]["macro_auc"])]
    return float(np.mean(aucs)) if aucs else float("nan")


def _card(
    name: str, version: str, cfg: TrainConfig, data: LabelledData, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "labels": data.labels,
        "frontend": cfg.frontend.to_dict(),
        "architecture": cfg.architecture(),
        "aggregation": "track logit = mean of patch logits (non-overlapping 128-frame patches, one more "
        "aligned to the end); probability = sigmoid(logit / head temperature)",
        **extra,
    }


def train(
    data: str | Path,
    out: str | Path,
    *,
    config: TrainConfig | None = None,
    resume: bool = False,
    cache: str | Path | None = None,
    name: str | None = None,
    version: str = "1.0.0",
    command: str | None = None,
    progress: bool = True,
    init: str | Path | None = None,
) -> dict[str, Any]:
    """Train a tagger on labelled audio and write it to ``out`` as a model folder.

    Parameters
    ----------
    data : path
        A manifest/CSV or a folder per label (see :func:`audiotaste.tagger.data.read_labelled`).
    out : path
        Model folder to write (``model.safetensors``, ``card.json``, ``checkpoint.safetensors``).
    config : TrainConfig
        Settings; defaults as documented there.
    resume : bool
        Continue from ``out/checkpoint.safetensors`` (which must come from the same settings and data,
        except ``epochs`` and ``patience``: resuming with ``epochs`` equal to the epochs already run ends
        the run now, calibrating and writing its best weights).
    cache : path, optional
        Folder of cached log-mels (default: ``<user cache>/mels``).
    name, version : str
        Recorded in the card (``name`` defaults to the folder name).
    command : str, optional
        The command line, recorded in the card.
    progress : bool
        Show a progress bar with the loss and validation metrics.
    init : path, optional
        A model folder (same labels and architecture) to start from instead of random weights, e.g. to
        continue training on a grown corpus.

    Returns
    -------
    dict
        The model card written.
    """
    cfg = config or TrainConfig()
    out = Path(out)
    fe = cfg.frontend
    ds = read_labelled(data)
    train_idx, val_idx, test_idx = ds.indices("train"), ds.indices("val"), ds.indices("test")
    if len(train_idx) == 0:
        raise InputError(data, "has no training items")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), disable=not progress
    )
    with bar:
        task = bar.add_task("log-mels", total=len(ds.paths))
        mels, errors = cached_mels(
            ds.paths, fe, Path(cache) if cache else cache_dir() / "mels", on_progress=lambda i: bar.update(task, completed=i)
        )
    if errors:
        shown = "; ".join(str(e) for e in errors[:3])
        bar.console.print(f"[yellow]skipped {len(errors)} unreadable file(s): {shown}")
    ok = np.array([m is not None for m in mels])
    train_idx, val_idx, test_idx = (i[ok[i]] for i in (train_idx, val_idx, test_idx))
    if len(train_idx) == 0:
        raise InputError(data, "none of the training files could be read")

    torch.manual_seed(cfg.seed)
    n_labels = ds.targets.shape[1]
    net = TaggerNet(n_labels, n_mels=fe.n_mels, **cfg.architecture())
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = RunState()
    if init is not None:
        start = read_card(Path(init))
        if start["labels"] != ds.labels or start["architecture"] != cfg.architecture():
            raise ModelError(init, "cannot start from this model: its labels or architecture differ from the run's")
        net.load_state_dict(load_tensors(Path(init) / WEIGHTS_NAME))
    best = {k: v.clone() for k, v in net.state_dict().items()}
    fingerprint = json.dumps(
        {"config": asdict(cfg), "labels": ds.labels, "n_train": int(len(train_idx)), "init": str(init)}
    )
    ckpt = out / CHECKPOINT_NAME
    if resume:
        state, best = load_checkpoint(ckpt, net, opt, fingerprint)

    card_stub = _card("training", "0", cfg, ds, {})
    lossf = nn.BCEWithLogitsLoss()
    train_mels = [mels[i] for i in train_idx]
    val_mels = [mels[i] for i in val_idx]
    lengths = np.array([m.shape[1] for m in train_mels])
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), disable=not progress
    )
    t0 = time.perf_counter()
    with bar:
        task = bar.add_task(f"epoch {state.epoch + 1}", total=cfg.epochs, completed=state.epoch)
        while state.epoch < cfg.epochs and state.bad_epochs < cfg.patience:
            epoch = state.epoch
            rng = np.random.default_rng([cfg.seed, epoch])
            torch.manual_seed(cfg.seed * 100_003 + epoch)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
            clips = np.repeat(np.arange(len(train_mels)), cfg.crops_per_clip)
            rng.shuffle(clips)
            starts = (rng.random(len(clips)) * np.maximum(lengths[clips] - cfg.patch_frames + 1, 1)).astype(np.int64)
            crops = np.stack([clips, starts], axis=1)
            net.train()
            losses = []
            for b in range(0, len(crops), cfg.batch_size):
                chunk = crops[b : b + cfg.batch_size]
                if len(chunk) < 2 and b > 0:  # batch norm needs two items; drop a lone straggler
                    continue
                x = _batch(train_mels, chunk, fe, rng, cfg.augment)
                y = torch.from_numpy(ds.targets[train_idx[chunk[:, 0]]])
                logits, _ = net(x)
                loss = lossf(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            record: dict[str, float] = {"epoch": epoch + 1, "loss": float(np.mean(losses))}
            if len(val_idx):
                vlog = _track_logits(CnnTagger(net, card_stub), val_mels)
                vt = ds.targets[val_idx]
                record["val_loss"] = float(lossf(torch.from_numpy(vlog), torch.from_numpy(vt)))
                metrics = evaluate(sigmoid(vlog), vt, ds.labels)
                record.update({f"val_auc_{t}": metrics[t]["macro_auc"] for t in ds.labels})
                score = _score(metrics, ds.labels)
                if math.isnan(score):
                    score = -record["val_loss"]
            else:
                score = -record["loss"]
            best = state.end_epoch(record, score, net, best)
            save_checkpoint(ckpt, net, opt, best, state, fingerprint)
            shown = " ".join(f"{k} {v:.3f}" for k, v in record.items() if k != "epoch")
            bar.update(task, completed=state.epoch, description=f"epoch {state.epoch} {shown}")
            bar.console.print(f"epoch {state.epoch}: {shown}", highlight=False)

    net.load_state_dict(best)
    tagger = CnnTagger(net, card_stub)
    temps: dict[str, float] = {}
    vlog = _track_logits(tagger, val_mels)
    col = 0
    for tax, names in ds.labels.items():
        sl = slice(col, col + len(names))
        col += len(names)
        # a temperature fitted on a handful of clips is noise; below MIN_CALIBRATION clips keep T = 1
        fit = len(val_idx) >= MIN_CALIBRATION
        temps[tax] = fit_temperature(vlog[:, sl], ds.targets[val_idx][:, sl]) if fit else 1.0
    temp_cols = np.concatenate([np.full(len(v), temps[t]) for t, v in ds.labels.items()])
    metrics = {}
    for split, idx in (("val", val_idx), ("test", test_idx)):
        if len(idx):
            lg = vlog if split == "val" else _track_logits(tagger, [mels[i] for i in idx])
            metrics[split] = evaluate(sigmoid(lg / temp_cols), ds.targets[idx], ds.labels)
    card = _card(
        name or out.name,
        version,
        cfg,
        ds,
        {
            "calibration": {
                "method": "temperature scaling per head, fitted on the validation split at track level"
                if len(val_idx) >= MIN_CALIBRATION
                else f"none: fewer than {MIN_CALIBRATION} validation clips",
                "temperature": temps,
            },
            "training": {
                "data": str(data),
                "command": command,
                "init": None if init is None else str(init),
                "n_clips": {"train": int(len(train_idx)), "val": int(len(val_idx)), "test": int(len(test_idx))},
                "epochs_run": state.epoch,
                "best_epoch": state.best_epoch,
                "seconds": round(time.perf_counter() - t0, 1),
                "config": asdict(cfg),
                "history": state.history,
                "torch": torch.__version__,
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "metrics": metrics,
            "n_parameters": sum(p.numel() for p in net.parameters()),
        },
    )
    write_model(out, net, card)
    return card


def save_checkpoint(
    path: Path, net: nn.Module, opt: torch.optim.Optimizer, best: dict[str, torch.Tensor], state: RunState, fingerprint: str
) -> None:
    """Write current and best weights, optimiser state and run state atomically to one safetensors file."""
    tensors = {f"net.{k}": v for k, v in net.state_dict().items()}
    tensors.update({f"best.{k}": v for k, v in best.items()})
    opt_state = opt.state_dict()
    for pid, st in opt_state["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    meta = {
        "fingerprint": fingerprint,
        "state": json.dumps(asdict(state)),
        "param_groups": json.dumps(opt_state["param_groups"]),
    }
    save_tensors(path, tensors, metadata=meta)


def _comparable(fingerprint: str) -> dict[str, Any]:
    """A run's identity without its stopping rule: resuming with another ``epochs`` or ``patience``
    extends or ends a run (the cosine schedule then follows the new ``epochs``)."""
    info = json.loads(fingerprint)
    for key in ("epochs", "patience"):
        info.get("config", {}).pop(key, None)
    return dict(info)


def load_checkpoint(
    path: Path, net: nn.Module, opt: torch.optim.Optimizer, fingerprint: str
) -> tuple[RunState, dict[str, torch.Tensor]]:
    """Restore ``net`` and ``opt`` from a checkpoint written by :func:`save_checkpoint`.

    Returns the run state and the best weights; refuses a checkpoint whose fingerprint (settings and data,
    stopping rule aside) differs from ``fingerprint``.
    """
    from safetensors import safe_open

    tensors = load_tensors(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if _comparable(meta.get("fingerprint", "{}")) != _comparable(fingerprint):
        raise ModelError(path, "checkpoint comes from other settings or data; drop --resume or use the same ones")
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": opt_state, "param_groups": json.loads(meta["param_groups"])})
    return RunState(**json.loads(meta["state"])), best
