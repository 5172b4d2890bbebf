"""What ``train_tempo.py`` and ``train_key.py`` share: arguments, data, the epoch loop, the card.

Both fit on ``split == "train"`` rows of one or more manifests, pick the epoch on ``split == "val"``
rows (disjoint compositions, a font never used in training) and write safetensors weights plus a JSON
card (data, command, metrics) next to them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _features_cache import ROOT, load_features, read_manifest
from threadpoolctl import threadpool_limits

from audiotaste.features._models import save_weights


def add_common_args(p: argparse.ArgumentParser, *, out: str, epochs: int) -> None:
    """The arguments every trainer takes."""
    p.add_argument("--manifest", type=Path, action="append", default=None,
                   help="corpus manifest (repeatable; default corpus/full/manifest.csv)")
    p.add_argument("--cache", type=Path, default=ROOT / "corpus/cache/features")
    p.add_argument("--out", type=Path, default=ROOT / out)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--workers", type=int, default=2, help="processes computing missing cache entries")
    p.add_argument("--seed", type=int, default=0)


def setup(args: argparse.Namespace) -> np.random.Generator:
    """Seeds and one thread everywhere (the machine is shared); returns the numpy generator."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy's BLAS threads thrash on a shared machine (10x slower here)
    if args.manifest is None:
        args.manifest = [ROOT / "corpus/full/manifest.csv"]
    return np.random.default_rng(args.seed)


def load_rows(args: argparse.Namespace, kinds: tuple[str, ...]) -> tuple[pd.DataFrame, list[dict]]:
    """Train and val rows of every manifest (with a ``source`` column) and their cached features."""
    frames = []
    for m in args.manifest:
        df = read_manifest(m)
        df["source"] = rel(m)
        frames.append(df[df["split"].isin(["train", "val"])])
    df = pd.concat(frames, ignore_index=True)
    return df, load_features(df, args.cache, workers=args.workers, kinds=kinds)


def describe(df: pd.DataFrame) -> str:
    """'corpus/full/manifest.csv (3,100 train / 380 val clips) + ...' for the card."""
    parts = []
    for src, d in df.groupby("source", sort=False):
        parts.append(f"{src} ({int((d.split == 'train').sum()):,} train / {int((d.split == 'val').sum()):,} val clips)")
    return " + ".join(parts)


def rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def fit(
    net: torch.nn.Module,
    n_train: int,
    step: Callable[[torch.Tensor], torch.Tensor],
    evaluate: Callable[[], dict[str, float]],
    score: Callable[[dict[str, float]], float],
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch: int = 64,
    log_every: int = 1,
) -> dict[str, float]:
    """AdamW with a cosine schedule; keeps the weights of the epoch with the best ``score(evaluate())``.

    ``step(idx)`` returns the loss of the training examples ``idx``; returns the kept epoch's metrics
    (with ``epoch``) and leaves those weights in ``net``.
    """
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    best: tuple[float, dict, dict] = (-np.inf, {}, {})
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(n_train)
        total = 0.0
        for i in range(0, n_train, batch):
            idx = perm[i : i + batch]
            loss = step(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        sched.step()
        net.eval()
        with torch.no_grad():
            val = evaluate()
        if epoch % log_every == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:3d} loss {total / max(n_train, 1):.3f} val "
                  + " ".join(f"{k} {v:.4f}" for k, v in val.items()), flush=True)
        s = score(val)
        if s > best[0]:
            best = (s, {k: v.clone() for k, v in net.state_dict().items()}, {**val, "epoch": epoch})
    net.load_state_dict(best[1])
    return best[2]


def save(net: torch.nn.Module, args: argparse.Namespace, meta: dict[str, str], card: dict) -> None:
    """Weights (safetensors, ``meta`` as metadata) and the JSON card next to them."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(net, args.out, meta)
    full = {
        **card,
        "command": "python " + " ".join(sys.argv),
        "epochs": args.epochs,
        "seed": args.seed,
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    args.out.with_suffix(".json").write_text(json.dumps(full, indent=2) + "\n")
    print(json.dumps(full, indent=2))
