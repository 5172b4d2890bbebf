#!/usr/bin/env python
"""Train the key model (``KeyNet``: a transposition-equivariant classifier over pitch-class summaries).

    nice -n 10 .venv/bin/python scripts/train_key.py --manifest corpus/full/manifest.csv \
        --manifest corpus/chorales/manifest.csv --out models/features/key.safetensors

Fits on ``split == "train"`` rows only; ``split == "val"`` rows (disjoint compositions) pick the
epoch and give the card's metrics. Writes the weights and a JSON card (data, command, metrics) next to
them (the skeleton is shared with ``train_tempo.py``: ``_train_common``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_common import add_common_args, describe, fit, load_rows, save, setup  # noqa: E402

from audiotaste.features._models import KeyEnsemble, KeyNet  # noqa: E402
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(p, out="models/features/key.safetensors", epochs=150)
    p.add_argument("--hidden", type=int, default=48)
    p.add_argument("--no-pairs", action="store_true", help="without the bass/pitch-class co-occurrence")
    p.add_argument("--members", type=int, default=1, help="seeds trained and averaged (an ensemble)")
    args = p.parse_args()
    setup(args)

    df, feats = load_rows(args, ("key",))
    ok = np.array([f["key"].shape == (N_KEY_BLOCKS + 12, 12) for f in feats])
    x = torch.from_numpy(np.stack([f["key"] for f, good in zip(feats, ok, strict=True) if good]))
    d = df[ok].reset_index(drop=True)
    y = torch.tensor(((1 - d["mode"].astype(int)) * 12 + d["key"].astype(int)).to_numpy(), dtype=torch.long)
    held = torch.tensor((d["split"] == "val").to_numpy())
    xtr, ytr, xva, yva = x[~held], y[~held], x[held], y[held]
    sources = d.loc[held.numpy(), "source"].to_numpy()
    print(f"{len(xtr)} train clips, {len(xva)} val clips ({(~ok).sum()} silent skipped)", flush=True)

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        pred = model(xva).argmax(1).numpy()
        ref = yva.numpy()
        out = {"mirex": mirex(pred, ref), "exact": float((pred == ref).mean())}
        if len(set(sources)) > 1:  # each source's own score too (the chorales are a small share)
            for src in dict.fromkeys(sources):
                sel = sources == src
                out[f"mirex[{Path(src).parent.name}]"] = mirex(pred[sel], ref[sel])
        return out

    nets, vals = [], []
    for k in range(args.members):
        torch.manual_seed(args.seed + k)
        net = KeyNet(N_KEY_BLOCKS, hidden=args.hidden, pairs=not args.no_pairs)

        def step(idx: torch.Tensor, net: KeyNet = net) -> torch.Tensor:
            noisy = xtr[idx] * torch.exp(0.1 * torch.randn_like(xtr[idx]))  # mix and voicing variation
            return torch.nn.functional.cross_entropy(net(noisy), ytr[idx], label_smoothing=0.05)

        vals.append(fit(net, len(xtr), step, lambda net=net: evaluate(net), lambda v: v["mirex"],
                        epochs=args.epochs, lr=3e-3, weight_decay=1e-3, log_every=10))
        nets.append(net)
    meta = {"n_blocks": str(N_KEY_BLOCKS), "hidden": str(args.hidden), "pairs": "0" if args.no_pairs else "1"}
    model: torch.nn.Module = nets[0]
    if args.members > 1:
        model = KeyEnsemble(nets).eval()
        meta["n_models"] = str(args.members)
    with torch.no_grad():
        val = evaluate(model)
    print("val", val, flush=True)
    save(model, args, meta, {
        "model": f"KeyNet (audiotaste.features._models): transposition-equivariant MLP over {N_KEY_BLOCKS} "
                 "pitch-class summaries (tonal.key_features: register chromas, opening/ending chroma, "
                 "ending bass, prominence, opening bass) and a bass/pitch-class co-occurrence, from a "
                 "tuning-corrected 2.7 Hz-resolution semitone spectrum"
                 + (f"; an ensemble of {args.members} (seeds {args.seed}-{args.seed + args.members - 1}, "
                    "probabilities averaged)" if args.members > 1 else ""),
        "training_data": f"{describe(d)}; fitted on the train clips, each member's epoch picked on the val clips",
        "validation": val,
        "validation_members": vals,
    })


if __name__ == "__main__":
    main()
