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
from audiotaste.features.pitch import (  # noqa: E402
    KEY_ROWS,
    N_KEY_BLOCKS,
    N_KEY_MATRICES,
    N_KEY_ROWS,
    KeyFrames,
    summarise_key_frames,
)


def mirex(pred: np.ndarray, ref: np.ndarray) -> float:
    """MIREX weighted key score over class indices (major C..B = 0..11, minor C..B = 12..23).

    As ``mir_eval.key.weighted_score``: 1 correct, 0.5 a fifth above in the same mode, 0.3 the
    relative, 0.2 the parallel, else 0; a negative prediction (no key) scores 0.
    """
    pt, pm = pred % 12, pred // 12
    rt, rm = ref % 12, ref // 12
    d = (pt - rt) % 12
    score = np.where((pt == rt) & (pm == rm), 1.0, 0.0)
    score += np.where((pm == rm) & (d == 7) & (score == 0), 0.5, 0.0)  # fifth above
    rel = np.where(rm == 0, (rt + 9) % 12, (rt + 3) % 12)  # relative of the reference
    score += np.where((pm != rm) & (pt == rel) & (score == 0), 0.3, 0.0)
    score += np.where((pm != rm) & (pt == rt) & (score == 0), 0.2, 0.0)  # parallel
    return float(np.where(pred < 0, 0.0, score).mean())


def random_windows(frames: KeyFrames, n: int, rng: np.random.Generator, *, min_s: float = 6.0,
                   min_share: float = 0.4) -> np.ndarray:
    """Key summaries of ``n`` random windows of a clip: [n, N_KEY_ROWS, 12].

    Each window lasts from ``max(min_s, min_share x the clip)`` to the whole clip and starts anywhere
    it fits. A rendered clip opens and closes on its tonic; a window of a song mostly does not (the
    key of any 60 s of a song must be the song's, issue 17), so the model must not lean on the edges
    more than the music in them warrants.
    """
    total = frames.n_frames
    shortest = min(total, max(int(round(min_s * frames.fps)), int(min_share * total)))
    out = np.empty((n, N_KEY_ROWS, 12), np.float32)
    for i in range(n):
        length = int(rng.integers(shortest, total + 1))
        start = int(rng.integers(0, total - length + 1))
        out[i] = summarise_key_frames(frames, start=start, stop=start + length)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(p, out="models/features/key.safetensors", epochs=150)
    p.add_argument("--hidden", type=int, default=48)
    p.add_argument("--members", type=int, default=1, help="seeds trained per reading of the bass")
    p.add_argument("--readings", nargs="+", choices=sorted(KEY_ROWS), default=sorted(KEY_ROWS, reverse=True),
                   help="readings of the bass (pitch.KEY_ROWS); the members of all are averaged")
    p.add_argument("--windows", type=int, default=0,
                   help="random windows per clip (random_windows), drawn once; each epoch a training clip is "
                        "read whole or as one of them; val is scored whole and on its windows")
    p.add_argument("--window-share", type=float, default=0.5, help="share of training reads that are a window")
    args = p.parse_args()
    rng = setup(args)

    df, feats = load_rows(args, ("frames",))
    ok = np.array([f["frames"] is not None for f in feats])
    # [clips, 1 + windows, N_KEY_ROWS, 12]: the whole clip first, then its random windows
    x = torch.from_numpy(np.stack([
        np.concatenate([summarise_key_frames(f["frames"])[None], random_windows(f["frames"], args.windows, rng)])
        for f, good in zip(feats, ok, strict=True) if good]))
    d = df[ok].reset_index(drop=True)
    y = torch.tensor(((1 - d["mode"].astype(int)) * 12 + d["key"].astype(int)).to_numpy(), dtype=torch.long)
    held = torch.tensor((d["split"] == "val").to_numpy())
    xtr, ytr, xva, yva = x[~held], y[~held], x[held], y[held]
    sources = d.loc[held.numpy(), "source"].to_numpy()
    print(f"{len(xtr)} train clips, {len(xva)} val clips ({(~ok).sum()} silent skipped)", flush=True)

    def evaluate(model: torch.nn.Module, xs: torch.Tensor) -> dict[str, float]:
        pred = model(xs[:, 0]).argmax(1).numpy()
        ref = yva.numpy()
        out = {"mirex": mirex(pred, ref), "exact": float((pred == ref).mean())}
        if xs.shape[1] > 1:  # the windows, and the selection score: the mean of whole and windows
            windows = model(xs[:, 1:].reshape(-1, *xs.shape[2:])).argmax(1).numpy()
            out["mirex_windows"] = mirex(windows, np.repeat(ref, xs.shape[1] - 1))
            out["select"] = (out["mirex"] + out["mirex_windows"]) / 2
        if len(set(sources)) > 1:  # each source's own score too (the chorales are a small share)
            for src in dict.fromkeys(sources):
                sel = sources == src
                out[f"mirex[{Path(src).parent.name}]"] = mirex(pred[sel], ref[sel])
        return out

    nets, vals = [], []
    for reading in args.readings:
        rows = list(KEY_ROWS[reading])
        xr, xvr = xtr[:, :, rows], xva[:, :, rows]  # each member is fitted on the rows it reads
        for k in range(args.members):
            torch.manual_seed(args.seed + k)
            net = KeyNet(N_KEY_BLOCKS, hidden=args.hidden, n_matrices=N_KEY_MATRICES)

            def step(idx: torch.Tensor, net: KeyNet = net, xr: torch.Tensor = xr) -> torch.Tensor:
                windowed = (torch.rand(len(idx)) < args.window_share) & (xr.shape[1] > 1)
                which = torch.where(windowed, torch.randint(1, max(xr.shape[1], 2), (len(idx),)), 0)
                view = xr[idx, which]  # [B, rows, 12]: the whole clip, or one of its windows
                noisy = view * torch.exp(0.1 * torch.randn_like(view))  # mix and voicing variation
                return torch.nn.functional.cross_entropy(net(noisy), ytr[idx], label_smoothing=0.05)

            vals.append({"reading": reading, **fit(
                net, len(xr), step, lambda net=net, xvr=xvr: evaluate(net, xvr),
                lambda v: v.get("select", v["mirex"]),
                epochs=args.epochs, lr=3e-3, weight_decay=1e-3, log_every=10)})
            net.rows.copy_(torch.tensor(rows))  # from now on it reads the full feature array
            nets.append(net)
    meta = {"n_blocks": str(N_KEY_BLOCKS), "hidden": str(args.hidden), "n_matrices": str(N_KEY_MATRICES)}
    model: torch.nn.Module = nets[0]
    if len(nets) > 1:
        model = KeyEnsemble(nets).eval()
        meta["n_models"] = str(len(nets))
    with torch.no_grad():
        val = evaluate(model, xva)
    print("val", val, flush=True)
    save(model, args, meta, {
        "model": f"KeyNet (audiotaste.features._models): transposition-equivariant MLP over {N_KEY_BLOCKS} "
                 f"pitch-class summaries and {N_KEY_MATRICES} bass/pitch-class matrices (pitch.summarise_key_frames: "
                 "register chromas, opening/ending chroma and bass, prominence; the pitch classes over, and "
                 "a second after, each bass note; the bass line's moves) from a tuning-corrected 2.7 Hz-"
                 "resolution semitone spectrum; "
                 f"{args.members} seed(s) ({args.seed}-{args.seed + args.members - 1}) for each reading of the "
                 f"bass ({', '.join(args.readings)}: pitch.KEY_ROWS), probabilities averaged",
        "training_data": f"{describe(d)}; fitted on the train clips, each member's epoch picked on the val clips",
        "windows": (f"each training read is, with probability {args.window_share}, one of {args.windows} random "
                    "windows of the clip (train_key.random_windows), else the whole clip; epochs picked by the "
                    "mean of the val clips' MIREX whole and on their windows") if args.windows else "whole clips only",
        "validation": val,
        "validation_members": vals,
    })


if __name__ == "__main__":
    main()
