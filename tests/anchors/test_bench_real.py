"""scripts/bench_real.py end to end on a tiny synthetic manifest, with the anchors' venvs absent."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(SCRIPTS / "anchors"))

import bench_real  # noqa: E402

SR = 22050
FIELDS = ["clip_id", "path", "source", "source_commit", "licence", "duration_s", "tempo_bpm", "first_beat_s",
          "meter", "key", "mode", "genres", "quadrant", "valence", "arousal", "artist", "title", "split"]


def click_track(bpm: float, seconds: float, first_beat_s: float) -> np.ndarray:
    y = np.zeros(int(seconds * SR), dtype=np.float32)
    click = np.sin(2 * np.pi * 1000 * np.arange(int(0.02 * SR)) / SR) * np.hanning(int(0.02 * SR))
    for t in np.arange(first_beat_s, seconds - 0.05, 60.0 / bpm):
        i = int(t * SR)
        y[i:i + len(click)] += 0.8 * click.astype(np.float32)
    return y


def cadence(seconds_per_chord: float = 2.0) -> np.ndarray:
    """I-IV-V-I in C major, each chord with its bass, harmonic tones."""
    chords = [(48, 60, 64, 67), (41, 60, 65, 69), (43, 59, 62, 67), (48, 60, 64, 67)]
    n = int(seconds_per_chord * SR)
    t = np.arange(n) / SR
    envelope = np.minimum(1, np.minimum(t / 0.02, (seconds_per_chord - t) / 0.1))
    out = []
    for chord in chords * 2:
        y = sum(
            sum(0.5**h * np.sin(2 * np.pi * 440 * 2 ** ((m - 69) / 12) * (h + 1) * t) for h in range(4))
            for m in chord
        )
        out.append(0.1 * envelope * y)
    return np.concatenate(out).astype(np.float32)


def write_manifest(folder: Path) -> Path:
    rows = []
    sf.write(folder / "click.wav", click_track(120.0, 20.0, 0.5), SR)
    rows.append({"clip_id": "click", "path": "click.wav", "source": "synthetic-clicks", "duration_s": "20.0",
                 "tempo_bpm": "120", "first_beat_s": "0.5", "meter": "4", "split": "dev",
                 "genres": "Electronic", "quadrant": "Q2", "valence": "-1", "arousal": "1"})
    sf.write(folder / "cadence.wav", cadence(), SR)
    rows.append({"clip_id": "cadence", "path": "cadence.wav", "source": "synthetic-keys", "duration_s": "16.0",
                 "key": "C", "mode": "major", "split": "dev",
                 "genres": "Classical;Stage & Screen", "quadrant": "Q4", "valence": "1", "arousal": "-1"})
    rows.append({"clip_id": "held-out", "path": "click.wav", "source": "synthetic-clicks", "duration_s": "20.0",
                 "tempo_bpm": "120", "first_beat_s": "0.5", "split": "test"})
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return folder / "manifest.csv"


@pytest.fixture
def no_anchors(tmp_path, monkeypatch):
    """No anchor venv and no fetched musicnn weights."""
    monkeypatch.setattr(bench_real.runners, "VENVS", tmp_path / "venvs")
    monkeypatch.setattr(bench_real.runners, "_cache_dir", lambda: tmp_path / "model-cache")


def table_row(text: str, title: str, system: str) -> list[str]:
    section = text.split(f"### {title}")[1].split("###")[0]
    line = next(line for line in section.splitlines() if line.startswith(f"| {system} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_bench_real_end_to_end_without_anchors(tmp_path, no_anchors, capsys):
    manifest = write_manifest(tmp_path)
    cache = tmp_path / "cache"
    args = ["--manifest", str(manifest), "--cache", str(cache), "--anchors",
            "audiotaste,tempocnn,madmom,essentia,librosa,musicnn-msd,student", "--min-genre", "1"]
    assert bench_real.main(args) == 0
    out = capsys.readouterr().out
    assert "split dev" in out
    for system in ("tempocnn fcn", "tempocnn cnn", "madmom TCN", "Essentia key edma", "librosa beat_track"):
        assert "not installed" in table_row(out, "overall", system)[1]
    assert "audiotaste models fetch musicnn" in table_row(out, "overall", "musicnn-msd (mapped)")[1]
    # audiotaste itself ran: a 120-BPM click is 120 BPM with its beats, the cadence is C major.
    clicks = table_row(out, "source synthetic-clicks", "audiotaste")
    assert clicks[1:3] == ["1.000", "1.000"]  # Acc1, Acc2
    assert float(clicks[3]) >= 0.95  # beat F (audiotaste adds a beat after the last click, at the end)
    keys = table_row(out, "source synthetic-keys", "audiotaste")
    assert keys[4:6] == ["1.000", "1.000"]  # MIREX, exact
    assert float(clicks[-1]) > 1  # × real time
    assert "### overall: 2 clips (1 with tempo, 1 with key, 2 with genres)" in out  # not the test row
    # Tags were scored: the default tagger over its mapped genres (Classical, Electronic), the student over
    # Electronic only (no classical tag among MSD's 50), valence/arousal/quadrants for both.
    tags = table_row(out, "overall", "audiotaste")
    assert tags[6].endswith("(2)") and tags[9].endswith("(2)")  # genre macro, quadrant macro (Q2, Q4)
    student = table_row(out, "overall", "student musicnn-msd-student (mapped)")
    assert student[6].endswith("(1)") and student[1:6] == ["—"] * 5
    for cell in (tags[6], tags[7], tags[8], tags[10], student[6]):
        assert 0.0 <= float(cell.split()[0]) <= 1.0

    # Resumable: a second run answers from the cache, without running audiotaste again.
    cache_files = list((cache / "audiotaste").glob("*.jsonl"))
    assert len(cache_files) == 1 and len(cache_files[0].read_text().splitlines()) == 2
    for log in cache.glob("*/stderr.log"):
        log.unlink()
    assert bench_real.main(args) == 0
    assert not list(cache.glob("*/stderr.log"))
    assert capsys.readouterr().out.split("UTC")[1] == out.split("UTC")[1]


def test_a_torn_cache_line_is_skipped_and_the_file_is_rerun(tmp_path, no_anchors, capsys):
    manifest = write_manifest(tmp_path)
    cache = tmp_path / "cache"
    anchor = next(a for a in bench_real.runners.anchors() if a.name == "audiotaste")
    torn = cache / "audiotaste" / f"{anchor.version()}.jsonl"
    torn.parent.mkdir(parents=True)
    torn.write_text('{"path": "' + str((tmp_path / "click.wav").resolve()) + '", "dura')
    args = ["--manifest", str(manifest), "--cache", str(cache), "--anchors", "audiotaste", "--limit", "1"]
    assert bench_real.main(args) == 0
    lines = torn.read_text().splitlines()
    assert len(lines) == 3 and lines[0].endswith('"dura')  # torn line kept, two answers after it
    assert table_row(capsys.readouterr().out, "overall", "audiotaste")[1] == "1.000"


def test_an_empty_split_is_a_clear_error(tmp_path, no_anchors, capsys):
    manifest = write_manifest(tmp_path)
    assert bench_real.main(["--manifest", str(manifest), "--split", "unlabelled", "--cache", str(tmp_path)]) == 1
    assert "no rows in split 'unlabelled'" in capsys.readouterr().err
