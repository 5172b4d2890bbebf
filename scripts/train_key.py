#!/usr/bin/env python
"""Train the key model (``KeyNet``: a transposition-equivariant classifier over pitch-class summaries).

    nice -n 10 .venv/bin/python scripts/train_key.py --manifest corpus/full/manifest.csv \
        --out models/features/key.safetensors

Fits on ``split == "train"`` rows only; ``split == "val"`` rows (disjoint compositions) pick the
epoch and give the card's metrics. Writes the weights and a JSON card (data, command, metrics) next to them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _features_cache import ROOT, load_features, read_manifest  # noqa: E402

from audiotaste.features._models import KeyNet, save_weights  # noqa: E402
from audiotaste.features.tonal import N_KEY_BLOCKS  # noqa: E402


def mirex(pred: np.ndarray, ref: np.ndarray) -> float:
    """MIREX weighted key score over class indices (major C..B = 0..11, minor C..B = 12..23).

    As ``mir_eval.key.weighted_score``: 1 correct, 0.5 a fifth above in the same mode, 0.3 the
    relative, 0.2 the parallel, else 0.
    """
    pt, pm = pred % 12, pred // 12
    rt, rm = ref % 12, ref // 12
    d = (pt - rt) % 12
    score = np.where((pt == rt) & (pm == rm), 1.0, 0.0)
    score += np.where((pm == rm) & (d == 7) & (score == 0), 0.5, 0.0)  # fifth above
    rel = np.where(rm == 0, (rt + 9) % 12, (rt + 3) % 12)  # relative of the reference
    score += np.where((pm != rm) & (pt == rel) & (score == 0), 0.3, 0.0)
    score += np.where((pm != rm) & (pt == rt) & (score == 0), 0.2, 0.0)  # parallel
    return float(score.mean())


def _rel(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, default=ROOT / "corpus/full/manifest.csv")
    p.add_argument("--cache", type=Path, default=ROOT / "corpus/cache/features")
    p.add_argument("--out", type=Path, default=ROOT / "models/features/key.safetensors")
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--hidden", type=int, default=48)
    p.add_argument("--no-pairs", action="store_true", help="without the bass/pitch-class co-occurrence")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy's BLAS threads thrash on a shared machine (10x slower here)

    df = read_manifest(args.manifest)
    df = df[df["split"].isin(["train", "val"])].reset_index(drop=True)
    feats = load_features(df, args.cache, workers=args.workers, kinds=("key",))
    ok = np.array([f["key"].shape == (N_KEY_BLOCKS + 12, 12) for f in feats])
    x = torch.from_numpy(np.stack([f["key"] for f, good in zip(feats, ok, strict=True) if good]))
    d = df[ok].reset_index(drop=True)
    y = torch.tensor(((1 - d["mode"].astype(int)) * 12 + d["key"].astype(int)).to_numpy(), dtype=torch.long)
    held = torch.tensor((d["split"] == "val").to_numpy())
    xtr, ytr, xva, yva = x[~held], y[~held], x[held], y[held]
    print(f"{len(xtr)} train clips, {len(xva)} val clips ({(~ok).sum()} silent skipped)", flush=True)

    net = KeyNet(N_KEY_BLOCKS, hidden=args.hidden, pairs=not args.no_pairs)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    best: tuple[float, dict, dict] = (-1.0, {}, {})
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(perm), 64):
            idx = perm[i : i + 64]
            noisy = xtr[idx] * torch.exp(0.1 * torch.randn_like(xtr[idx]))  # mix and voicing variation
            loss = torch.nn.functional.cross_entropy(net(noisy), ytr[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        net.eval()
        with torch.no_grad():
            pred = net(xva).argmax(1).numpy()
        val = {"mirex": mirex(pred, yva.numpy()), "exact": float((pred == yva.numpy()).mean())}
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch:3d} loss {float(loss):.3f} val {val}", flush=True)
        if val["mirex"] > best[0]:
            best = (val["mirex"], {k: v.clone() for k, v in net.state_dict().items()}, val)
    net.load_state_dict(best[1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(net, args.out, {"n_blocks": str(N_KEY_BLOCKS), "hidden": str(args.hidden),
                                 "pairs": "0" if args.no_pairs else "1"})
    card = {
        "model": "KeyNet (audiotaste.features._models): transposition-equivariant MLP over 7 pitch-class "
                 "summaries (tonal.key_features: register chromas, opening/ending chroma, ending bass, "
                 "prominence) and a bass/pitch-class co-occurrence, from a tuning-corrected "
                 "2.7 Hz-resolution semitone spectrum",
        "training_data": f"{_rel(args.manifest)}, split == train ({len(xtr)} clips; epoch picked on the {len(xva)} split == val clips)",
        "command": "python " + " ".join(sys.argv),
        "epochs": args.epochs,
        "seed": args.seed,
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "validation": best[2],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
