"""Tempo and key of ``audiotaste.features`` on one split of corpus manifests (model selection).

    python scripts/eval_features.py --split val corpus/full/manifest.csv corpus/chorales/manifest.csv
    python scripts/eval_features.py --split dev /work/data/real/manifest.csv     # the real dev split
    AUDIOTASTE_MODELS_DIR=/path/to/candidate/models python scripts/eval_features.py ...   # a candidate

Rows without a tempo (or key) label are left out of the tempo (key) scores; a missing estimate (a
null with a reason) counts as wrong, and how many there were is printed. The tempo errors are
broken down by ratio to the label (x1/2 "half", x2 "double", ...): the octave-error pattern.

Tempo Acc1: within 4 % of the tapped-beat label; Acc2: also at ×2, ×½, ×3, ×⅓. Key: MIREX weighted
score (``train_key.mirex``). Printed per manifest and per manifest × ``has_drums``, plus the pooled
figures over all the manifests given (what the tempo and key models are chosen by on ``val``:
``docs/BENCHMARKS.md`` ``## features``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifests", nargs="+", type=Path)
    ap.add_argument("--split", default="val")
    args = ap.parse_args()

    import torch
    from train_key import mirex

    from audiotaste.audio import load
    from audiotaste.features import rhythm, tonal

    torch.set_num_threads(1)
    pooled: list[bool] = []
    key_pred: list[int] = []
    key_ref: list[int] = []
    for manifest in args.manifests:
        rows = [r for r in csv.DictReader(manifest.open()) if r["split"] == args.split
                and (r.get("tempo_bpm") or r.get("key"))]
        acc1, acc2, drums, kp, kr = [], [], [], [], []
        errors: Counter[str] = Counter()
        nulls: Counter[str] = Counter()
        for r in rows:
            y, sr = load(manifest.parent / r["path"], sr=22050)
            if r.get("key"):
                k = tonal.key(y, sr)
                nulls["key"] += k.key is None
                kp.append(-100 if k.key is None else k.key + (0 if k.mode == 1 else 12))  # no key: wrong
                kr.append(int(r["key"]) + (0 if int(r["mode"]) == 1 else 12))
            if r.get("tempo_bpm"):
                bpm = rhythm.tempo(y, sr).bpm
                nulls["tempo"] += bpm is None
                ratio = 0.0 if bpm is None else bpm / float(r["tempo_bpm"])  # no tempo: wrong
                acc1.append(abs(ratio - 1) < 0.04)
                acc2.append(any(abs(ratio / m - 1) < 0.04 for m in (1, 2, 0.5, 3, 1 / 3)))
                errors[_ratio_name(ratio)] += 1
                drums.append(r.get("has_drums") == "1")
        a1, d = np.array(acc1, bool), np.array(drums, bool)
        parts = ", ".join(f"{name} {a1[mask].mean():.3f} ({mask.sum()})"
                          for name, mask in (("with drums", d), ("without", ~d)) if mask.any())
        key_text = f"key MIREX {mirex(np.array(kp), np.array(kr)):.3f} ({len(kp)})" if kp else "no key labels"
        print(f"{manifest}: {len(rows)} {args.split} clips, tempo Acc1 {a1.mean():.3f}, "
              f"Acc2 {np.mean(acc2):.3f} ({parts}; {len(acc1)} labelled); {key_text}; nulls {dict(nulls)}; "
              f"tempo estimate / label: {dict(errors.most_common())}")
        pooled += acc1
        key_pred += kp
        key_ref += kr
    key_text = f"key MIREX {mirex(np.array(key_pred), np.array(key_ref)):.3f}" if key_pred else "no key labels"
    print(f"pooled over {len(pooled)} clips: tempo Acc1 {np.mean(pooled):.3f}, {key_text}")


def _ratio_name(ratio: float) -> str:
    """The tempo error as a named ratio of estimate to label ("x1", "half", "double", ...)."""
    for name, m in (("x1", 1.0), ("half", 0.5), ("double", 2.0), ("third", 1 / 3), ("triple", 3.0),
                    ("x2/3", 2 / 3), ("x3/2", 1.5), ("quarter", 0.25), ("x4", 4.0)):
        if abs(ratio / m - 1) < 0.04:
            return name
    return "none" if ratio == 0 else "other"


if __name__ == "__main__":
    main()
