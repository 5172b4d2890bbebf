"""The real corpus's manifest (``manifest.csv``) and its skip counts, written atomically.

Columns (a contract with scripts/bench_real.py and the feature work; empty = unknown): ``path`` is
relative to the manifest's folder; ``tempo_bpm`` is the chart's constant tempo at the chart's own
beat level; ``first_beat_s`` the first beat at or after the audio's start; ``meter`` ``"N/D"``;
``genres`` ``;``-joined, in the source's own vocabulary (AllMusic for 4Q); ``split`` dev / test /
unlabelled; ``subsplit`` (4Q clips only) dev / devtest, an artist-disjoint halving of the 4Q dev
clips; ``genre`` (the ``genre`` sources) the source's label mapped onto our 13 genres, empty where it
names none of ours.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from audiotaste._io import atomic_write_text

__all__ = ["COLUMNS", "SkipCounter", "read_manifest", "write_manifest", "write_skips"]

COLUMNS = [
    "clip_id", "path", "source", "source_commit", "licence", "duration_s", "tempo_bpm",
    "first_beat_s", "meter", "key", "mode", "genres", "quadrant", "valence", "arousal", "artist",
    "title", "split", "subsplit", "genre",
]  # fmt: skip


class SkipCounter:
    """Counts skips by (source, reason) and keeps every skipped item for ``skipped.csv``."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.items: list[tuple[str, str, str]] = []

    def add(self, source: str, reason: str, item: str) -> None:
        self.counts[(source, reason)] += 1
        self.items.append((source, reason, item))

    def table(self) -> str:
        lines = [f"{'source':<24} {'reason':<34} {'count':>6}"]
        for (source, reason), count in sorted(self.counts.items()):
            lines.append(f"{source:<24} {reason:<34} {count:>6}")
        return "\n".join(lines)


def _csv_text(header: list[str], rows: Iterable[Mapping[str, object] | list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "") for c in header] if isinstance(row, Mapping) else row)
    return buffer.getvalue()


def write_manifest(path: str | Path, rows: Iterable[Mapping[str, object]]) -> int:
    """Write all rows (sorted by clip_id) in one atomic replace; returns the row count."""
    ordered = sorted(rows, key=lambda row: str(row["clip_id"]))
    ids = [row["clip_id"] for row in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate clip_id in the manifest")
    atomic_write_text(path, _csv_text(COLUMNS, ordered))
    return len(ordered)


def write_skips(folder: str | Path, skips: SkipCounter, *, suffix: str = "") -> None:
    """``skips.csv`` (counts by source and reason) and ``skipped.csv`` (every skipped item); a
    ``suffix`` (e.g. ``.partial``) goes before ``.csv``."""
    folder = Path(folder)
    counts = [[s, r, n] for (s, r), n in sorted(skips.counts.items())]
    atomic_write_text(
        folder / f"skips{suffix}.csv", _csv_text(["source", "reason", "count"], counts)
    )
    atomic_write_text(
        folder / f"skipped{suffix}.csv",
        _csv_text(["source", "reason", "item"], [list(i) for i in skips.items]),
    )


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
