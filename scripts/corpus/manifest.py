"""The manifest: CSV, one row per finished clip, always valid while it grows.

A row is appended only after its FLAC has been moved into place, with one ``write`` of one whole
line on an ``O_APPEND`` descriptor, so a reader (or a killed run) never sees half a row or a row
whose audio is missing.  Paths are relative to the manifest's folder.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

COLUMNS = (
    "clip_id", "path", "genre", "moods", "tempo_bpm", "meter", "key", "key_name", "mode",
    "instruments", "soundfont", "synth", "seed", "split", "duration_s", "has_drums",
    "groove", "subset", "modulates",
)
BENCH_COLUMNS = COLUMNS + ("hard_kind",)


def _line(values: list) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue().encode()


class Manifest:
    """Append-only manifest at ``root/manifest.csv``."""

    def __init__(self, root: Path, columns: tuple[str, ...] = COLUMNS) -> None:
        self.root = Path(root)
        self.columns = columns
        self.path = self.root / "manifest.csv"
        self.root.mkdir(parents=True, exist_ok=True)
        self._repair()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size == 0:
            os.write(self._fd, _line(list(self.columns)))

    def _repair(self) -> None:
        """Drop a torn last line (a kill inside ``write``) and rows whose audio is gone."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        keep = data[: data.rfind(b"\n") + 1]
        rows = list(csv.reader(io.StringIO(keep.decode())))
        good = [r for r in rows[1:] if len(r) == len(self.columns) and (self.root / r[1]).is_file()]
        if keep != data or len(good) != len(rows) - 1 or (rows and tuple(rows[0]) != self.columns):
            tmp = self.path.with_suffix(".csv.tmp")
            tmp.write_bytes(_line(list(self.columns)) + b"".join(_line(r) for r in good))
            os.replace(tmp, self.path)

    def done(self) -> set[str]:
        with self.path.open(newline="") as f:
            return {r["clip_id"] for r in csv.DictReader(f)}

    def append(self, row: dict) -> None:
        os.write(self._fd, _line([row.get(c, "") for c in self.columns]))

    def close(self) -> None:
        os.close(self._fd)
