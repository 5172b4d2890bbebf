"""What valence/arousal cost ``analyze``: CPU seconds on one thread, with and without the affect
listener, paired run by run on a 3-min 44.1-kHz stereo OGG (``bench_speed.synth_song``).

    OMP_NUM_THREADS=1 python scripts/bench_affect_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    import torch
    from bench_speed import synth_song, write_ogg

    import audiotaste
    from audiotaste.analysis import affect

    torch.set_num_threads(1)
    real_add = affect.AffectListener.add

    def without(path: Path) -> None:
        affect.AffectListener.add = lambda self, y: None  # type: ignore[method-assign]
        try:
            audiotaste.analyze(str(path))
        finally:
            affect.AffectListener.add = real_add  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory() as tmp:
        path = write_ogg(Path(tmp) / "song.ogg", synth_song(180.0))
        audiotaste.analyze(str(path))  # warm-up: models loaded, code paths compiled
        without(path)
        base, full = [], []
        for _ in range(args.repeats):
            t = time.process_time()
            without(path)
            base.append(time.process_time() - t)
            t = time.process_time()
            result = audiotaste.analyze(str(path))
            full.append(time.process_time() - t)
    print(f"CPU s per 3-min file, without affect: {[round(x, 3) for x in base]}; with: {[round(x, 3) for x in full]}")
    print(f"x real time (median): without {180 / statistics.median(base):.0f}x, with {180 / statistics.median(full):.0f}x;"
          f" paired ratio {statistics.median([f / b for f, b in zip(full, base, strict=True)]):.3f}")
    print(f"valence {result.valence:.3f}, arousal {result.arousal:.3f}; timings {dict(result.timings)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
