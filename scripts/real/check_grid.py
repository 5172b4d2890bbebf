#!/usr/bin/env python
"""Check the chart beat grids against the audio: is the onset strength higher ON the grid's beats
than half a beat off them? A wrong offset sign, a grid for another cut of the song or a chart at
half the tempo shows up as a clip whose on/off ratio is near or below 1.

    nice -n 10 python scripts/real/check_grid.py /work/data/real/manifest.csv

Prints per source the share of clips with on-beat onset strength above off-beat, the median
ratio and, as a control, the median for the grid the opposite offset-sign convention would give;
then a check of the tempo alone, whatever the phase: the best on/off ratio over 16 phases at the
chart's tempo over the best at 3 % slower or faster ("tempo contrast"; a right tempo keeps its beats
on the onsets all along, a tempo 3 % off drifts through them), as the share of clips above 1.1 and
the median. Lists the clips below 1 (review candidates) and writes every ratio to ``grid_check.csv``
beside the manifest (``clip_id, on_off_ratio, tempo_contrast``; atomically). The labels themselves are left as
the charts give them. librosa is used here as a reference only.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # audiotaste._io from this checkout

import librosa
import numpy as np

from audiotaste._io import atomic_write_text

SR = 22050
HOP = 512


def on_off_ratios(
    path: Path, bpm: float, first_beat_s: float, *, seconds: float = 60.0
) -> tuple[float, float, float]:
    """Mean onset strength at the grid's beats over the mean half a beat later (first ``seconds``),
    for the chart's grid and, as a control, for the grid the opposite offset sign would give
    (phase ``-first_beat_s`` modulo the beat period); third, the tempo contrast (module doc)."""
    y, _ = librosa.load(path, sr=SR, mono=True, duration=seconds + first_beat_s)
    envelope = librosa.onset.onset_strength(y=y, sr=SR, hop_length=HOP)
    period = 60.0 / bpm

    def mean_at(times: np.ndarray) -> float:
        frames = np.clip(np.round(times * SR / HOP).astype(int), 0, len(envelope) - 1)
        # the strongest frame within +-1 frame: onsets are a frame or so late in the envelope
        near = np.maximum.reduce(
            [envelope[np.clip(frames + d, 0, len(envelope) - 1)] for d in (-1, 0, 1)]
        )
        return float(near.mean())

    def ratio(first: float, beat: float = period) -> float:
        beats = np.arange(first, len(y) / SR, beat)
        return mean_at(beats) / max(mean_at(beats + beat / 2), 1e-9)

    def best(beat: float) -> float:
        return max(ratio(k * beat / 16, beat) for k in range(16))

    contrast = best(period) / max(best(period * 1.03), best(period / 1.03))
    return ratio(first_beat_s), ratio((-first_beat_s) % period), contrast


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("manifest", type=Path)
    args = parser.parse_args()
    with open(args.manifest, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["tempo_bpm"]]
    ratios: dict[str, list[float]] = defaultdict(list)
    flipped: dict[str, list[float]] = defaultdict(list)
    contrasts: dict[str, list[float]] = defaultdict(list)
    low = []
    lines = ["clip_id,on_off_ratio,tempo_contrast"]
    for row in rows:
        ratio, control, contrast = on_off_ratios(
            args.manifest.parent / row["path"], float(row["tempo_bpm"]), float(row["first_beat_s"])
        )
        ratios[row["source"]].append(ratio)
        flipped[row["source"]].append(control)
        contrasts[row["source"]].append(contrast)
        lines.append(f"{row['clip_id']},{ratio:.4f},{contrast:.4f}")
        if ratio < 1:
            low.append((ratio, row["clip_id"], row["title"]))
    print(
        f"{'source':<24} {'clips':>5} {'on>off':>7} {'median on/off':>14} {'flipped sign':>13}"
        f" {'contrast>1.1':>13} {'median contrast':>16}"
    )
    for source, values in sorted(ratios.items()):
        share = sum(v > 1 for v in values) / len(values)
        median, control = statistics.median(values), statistics.median(flipped[source])
        tempo = contrasts[source]
        tempo_share, tempo_median = sum(c > 1.1 for c in tempo) / len(tempo), statistics.median(tempo)
        print(
            f"{source:<24} {len(values):>5} {share:>7.0%} {median:>14.2f} {control:>13.2f}"
            f" {tempo_share:>13.0%} {tempo_median:>16.2f}"
        )
    atomic_write_text(args.manifest.parent / "grid_check.csv", "\n".join(lines) + "\n")
    print("\nclips with on/off < 1 (review):")
    for ratio, clip_id, title in sorted(low):
        print(f"  {ratio:5.2f}  {clip_id}  {title}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
