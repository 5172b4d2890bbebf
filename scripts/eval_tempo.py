"""Tempo Acc1 / Acc2 of ``audiotaste.features.rhythm.tempo`` on one split of corpus manifests.

    python scripts/eval_tempo.py --split val corpus/full/manifest.csv corpus/chorales/manifest.csv
    AUDIOTASTE_MODELS_DIR=/path/to/candidate/models python scripts/eval_tempo.py ...   # a candidate model

Acc1: within 4 % of the tapped-beat label; Acc2: also at ×2, ×½, ×3, ×⅓. Printed per manifest and per
manifest × ``has_drums``, plus the pooled Acc1 over all the manifests given (the figure the tempo
model is chosen by on ``val``: ``docs/BENCHMARKS.md`` ``## features``).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifests", nargs="+", type=Path)
    ap.add_argument("--split", default="val")
    args = ap.parse_args()

    import torch

    from audiotaste.audio import load
    from audiotaste.features import rhythm

    torch.set_num_threads(1)
    pooled: list[bool] = []
    for manifest in args.manifests:
        rows = [r for r in csv.DictReader(manifest.open()) if r["split"] == args.split]
        acc1, acc2, drums = [], [], []
        for r in rows:
            y, sr = load(manifest.parent / r["path"], sr=22050)
            ratio = rhythm.tempo(y, sr).bpm / float(r["tempo_bpm"])
            acc1.append(abs(ratio - 1) < 0.04)
            acc2.append(any(abs(ratio / m - 1) < 0.04 for m in (1, 2, 0.5, 3, 1 / 3)))
            drums.append(r.get("has_drums") == "1")
        a1, d = np.array(acc1), np.array(drums)
        parts = ", ".join(f"{name} {a1[mask].mean():.3f} ({mask.sum()})"
                          for name, mask in (("with drums", d), ("without", ~d)) if mask.any())
        print(f"{manifest}: {len(rows)} {args.split} clips, Acc1 {a1.mean():.3f}, "
              f"Acc2 {np.mean(acc2):.3f}; {parts}")
        pooled += acc1
    print(f"pooled Acc1 over {len(pooled)} clips: {np.mean(pooled):.3f}")


if __name__ == "__main__":
    main()
