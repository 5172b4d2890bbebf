"""Summaries (``features.nonmusic.summaries``) of the non-music set and of real music, to a CSV.

Music: the ``dev`` and ``unlabelled`` rows of the real manifest (never ``test``), grouped by artist
(4Q) or package, the groups split into ``fit`` and ``held`` halves by a hash of their name. Each
clip is read as the analysis reads it: its first analysis segment (up to 120 s) at 22.05 kHz::

    python scripts/nonmusic_features.py --speech /work/data/speech --real /work/data/real \\
        --out /work/data/speech/summaries.csv --workers 2
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def _one(path: str) -> list[float] | None:
    import torch

    from audiotaste.audio import load
    from audiotaste.features import nonmusic, pitch
    from audiotaste.features.spectrum import melspectrogram, stft_power

    torch.set_num_threads(1)
    try:
        y, sr = load(path, sr=22050, duration=120.0)
    except Exception as exc:  # noqa: BLE001 - a broken file is skipped and counted, not fatal
        print("skip", path, exc)
        return None
    if y.size < 3 * sr:
        return None
    spectrum = stft_power(y)
    mel_db = melspectrogram(spectrum=spectrum)
    inputs = pitch.key_inputs(y, sr)
    feats, share = (None, 0.0) if inputs is None else inputs
    return [float(v) for v in nonmusic.summaries(mel_db, feats, share)]


def _half(group: str) -> str:
    return "fit" if int(hashlib.sha1(group.encode()).hexdigest(), 16) % 2 == 0 else "held"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speech", type=Path, required=True)
    ap.add_argument("--real", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reuse", type=Path, help="an earlier output whose music rows are copied, not recomputed")
    args = ap.parse_args()
    rows: list[tuple[str, str, str, str]] = []  # path, kind, group, split
    with open(args.speech / "manifest.csv") as f:
        for r in csv.DictReader(f):
            rows.append((str(args.speech / r["path"]), r["kind"], r["group"], r["split"]))
    with open(args.real / "manifest.csv") as f:
        for r in csv.DictReader(f):
            if r["split"] not in ("dev", "unlabelled"):
                continue  # the test rows are never read here
            group = f"{r['source']}:{r['artist']}" if r["source"] == "4q" else r["source"]
            rows.append((str(args.real / r["path"]), "music", group, _half(group)))
    from audiotaste.features.nonmusic import NAMES

    known: dict[str, list[float]] = {}
    if args.reuse is not None:
        with open(args.reuse) as f:
            known = {r["path"]: [float(r[n]) for n in NAMES] for r in csv.DictReader(f) if r["kind"] == "music"}
    todo = [r[0] for r in rows if r[0] not in known]
    with ProcessPoolExecutor(args.workers) as pool:
        done = dict(zip(todo, pool.map(_one, todo, chunksize=4), strict=True))
    results = [known.get(r[0], done.get(r[0])) for r in rows]
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "kind", "group", "split", *NAMES])
        for r, x in zip(rows, results, strict=True):
            if x is not None and np.all(np.isfinite(x)):
                w.writerow([*r, *(f"{v:.6g}" for v in x)])


if __name__ == "__main__":
    main()
