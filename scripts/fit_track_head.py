"""Fit a tagger's track head (mood re-weighed with the key's mode) on the validation split.

    python scripts/fit_track_head.py --manifest corpus/full/manifest.csv --model models/default \\
        [--taxonomy mood] [--c 1.0] [--write --version 1.5.0]

For every clip of ``--split`` (default ``val``): the tagger's own track probabilities (CNN only,
``predict_mel``) and the key of ``audiotaste.features.tonal.key``. Prints the mean per-label ROC-AUC of
the CNN alone and of the head, both out of fold (5 folds, stratified per label), and with ``--write``
fits the head on the whole split and stores it in the model card (``track_head``), with a new version.
The test split is never read here; ``scripts/bench_tagger.py`` measures the result on it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def _targets(rows: list[dict[str, str]], taxonomy: str, labels: list[str]) -> np.ndarray:
    column = {"mood": "moods", "genre": "genre"}[taxonomy]
    return np.array([[lab in set(r[column].split(";")) for lab in labels] for r in rows], bool)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=Path("corpus/full/manifest.csv"))
    ap.add_argument("--model", type=Path, default=Path("models/default"))
    ap.add_argument("--split", default="val")
    ap.add_argument("--taxonomy", default="mood")
    ap.add_argument("--c", type=float, default=1.0)
    ap.add_argument("--write", action="store_true", help="store the head in the model card")
    ap.add_argument("--version", help="the card's new version (with --write)")
    args = ap.parse_args()
    if args.split == "test":
        raise SystemExit("the head is fitted on validation data; the test split is for bench_tagger.py")

    import torch
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from audiotaste.features import tonal
    from audiotaste.tagger import load_model
    from audiotaste.tagger.base import load_mono
    from audiotaste.tagger.infer import log_mel
    from audiotaste.tagger.track_head import fit_track_head, key_mode_strength

    torch.set_num_threads(1)
    tagger = load_model(args.model)
    labels = tagger.labels[args.taxonomy]
    with args.manifest.open() as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == args.split]
    probs, strength = [], []
    for i, r in enumerate(rows):
        y = load_mono(args.manifest.parent / r["path"], tagger.frontend.sr)
        out = tagger.predict_mel(log_mel(y, tagger.frontend))
        probs.append([out.tags[args.taxonomy][lab] for lab in labels])
        k = tonal.key(y, tagger.frontend.sr)
        strength.append(key_mode_strength(mode=1 if k.mode is None else k.mode, confidence=k.confidence,
                                          key=-1 if k.key is None else k.key))
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{len(rows)} clips", file=sys.stderr, flush=True)
    p, s, t = np.array(probs), np.array(strength), _targets(rows, args.taxonomy, labels)

    cnn, head = [], []
    for j, lab in enumerate(labels):
        oof = np.zeros(len(rows))
        for tr, va in StratifiedKFold(5, shuffle=True, random_state=0).split(p, t[:, j]):
            # this label's head only (folds are stratified per label)
            fold = fit_track_head(p[tr][:, [j]], s[tr], t[tr][:, [j]], [lab], taxonomy=args.taxonomy, c=args.c)
            oof[va] = [fold.apply({lab: p[i, j]}, s[i])[lab] for i in va]
        cnn.append(roc_auc_score(t[:, j], p[:, j]))
        head.append(roc_auc_score(t[:, j], oof))
        print(f"{lab:12s} AUC CNN {cnn[-1]:.3f}  head (out of fold) {head[-1]:.3f}")
    print(f"{args.split} ({len(rows)} clips) mean AUC: CNN {np.mean(cnn):.4f}, head out of fold {np.mean(head):.4f}")

    if args.write:
        if not args.version:
            raise SystemExit("--write needs --version")
        fitted = fit_track_head(
            p, s, t, labels, taxonomy=args.taxonomy, c=args.c,
            fitted_on=f"{args.split} split of {args.manifest} ({len(rows)} clips), "
                      f"L2 logistic regression per label, C={args.c} on standardised inputs",
        )
        card_path = args.model / "card.json"
        card = json.loads(card_path.read_text())
        entry = fitted.to_dict()
        entry["metrics"] = {f"{args.split}_auc_cnn": round(float(np.mean(cnn)), 4),
                            f"{args.split}_auc_head_out_of_fold": round(float(np.mean(head)), 4)}
        entry["command"] = "python scripts/fit_track_head.py " + " ".join(sys.argv[1:])
        entry["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
        card.setdefault("track_head", {})[args.taxonomy] = entry
        card["version"] = args.version
        tmp = card_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(card, indent=2) + "\n")
        os.replace(tmp, card_path)
        print(f"wrote the {args.taxonomy} head into {card_path} (version {args.version})")


if __name__ == "__main__":
    main()
