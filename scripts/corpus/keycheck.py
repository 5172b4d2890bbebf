"""Label sanity check for the bench sets: a plain Krumhansl-Schmuckler key finder (chroma CQT
mean against rotated major/minor profiles) against the labels.  Not a benchmark: if labels were
wrong (a transposition sign, a mode swap) agreement would collapse to chance (1/24).

    python scripts/corpus/keycheck.py corpus/bench/manifest.csv
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def main(manifest: Path) -> None:
    m = pd.read_csv(manifest)
    rows = []
    for r in m[m.subset.isin(["chorales", "with_drums", "hard"])].itertuples():
        y, sr = librosa.load(manifest.parent / r.path, sr=22050, duration=20)
        c = librosa.feature.chroma_cqt(y=y, sr=sr).mean(axis=1)
        _, k, mode = max((np.corrcoef(np.roll(p, k), c)[0, 1], k, mo)
                         for p, mo in ((MAJOR, 1), (MINOR, 0)) for k in range(12))
        rows.append((r.subset, r.hard_kind if isinstance(r.hard_kind, str) else "",
                     k == r.key and mode == r.mode, (k - r.key) % 12))
    d = pd.DataFrame(rows, columns=["subset", "kind", "exact", "offset"])
    print(d.groupby("subset").exact.mean().round(2))
    print(d[d.subset == "hard"].groupby("kind").exact.mean().round(2))
    print(d.groupby("subset").offset.value_counts().unstack(fill_value=0))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
