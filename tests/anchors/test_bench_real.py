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


def table_row(text: str, title: str, system: str) -> dict[str, str]:
    """The cells of ``system``'s row in the first table under ``### title``, by column name."""
    lines = text.split(f"### {title}")[1].split("###")[0].splitlines()
    header = next(line for line in lines if line.startswith("| system |"))
    row = next(line for line in lines if line.startswith(f"| {system} |"))
    names = [c.strip() for c in header.strip().strip("|").split("|")]
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    return dict(zip(names, cells, strict=False))


def test_bench_real_end_to_end_without_anchors(tmp_path, no_anchors, capsys):
    manifest = write_manifest(tmp_path)
    cache = tmp_path / "cache"
    args = ["--manifest", str(manifest), "--cache", str(cache), "--anchors",
            "audiotaste,tempocnn,madmom,essentia,librosa,musicnn-msd,student", "--min-genre", "1"]
    assert bench_real.main(args) == 0
    out = capsys.readouterr().out
    assert "split dev" in out
    for system in ("tempocnn fcn", "tempocnn cnn", "madmom TCN", "Essentia key edma", "librosa beat_track"):
        assert "not installed" in table_row(out, "overall", system)["n tempo/key/genre"]
    musicnn = table_row(out, "overall", "musicnn-msd (mapped)")
    assert "audiotaste models fetch musicnn" in musicnn["n tempo/key/genre"]
    # audiotaste itself ran: a 120-BPM click is 120 BPM with its beats, the cadence is C major.
    clicks = table_row(out, "source synthetic-clicks", "audiotaste")
    assert (clicks["tempo Acc1"], clicks["Acc2"], clicks["n tempo/key/genre"]) == ("1.000", "1.000", "1/0/1")
    assert float(clicks["beat F"]) >= 0.95  # audiotaste adds a beat after the last click, at the end
    keys = table_row(out, "source synthetic-keys", "audiotaste")
    assert (keys["key MIREX"], keys["key exact"]) == ("1.000", "1.000")
    assert float(clicks["× real time"]) > 1
    assert "### overall: 2 clips (1 with tempo, 1 with key, 2 with genres)" in out  # not the test row
    # Tags were scored: the default tagger over its mapped genres (Classical, Electronic), the student over
    # Electronic only (no classical tag among MSD's 50), valence/arousal/quadrants for both.
    tags = table_row(out, "overall", "audiotaste")
    assert tags["genre macro AUC"].endswith("(2)") and tags["quadrant AUC"].endswith("(2)")  # Q2, Q4
    student = table_row(out, "overall", "student musicnn-msd-student (mapped)")
    assert student["genre macro AUC"].endswith("(1)") and student["tempo Acc1"] == "—"
    assert student["n tempo/key/genre"] == "0/0/2"
    cells = ("genre macro AUC", "valence AUC", "arousal AUC", "genre ECE")
    for cell in [tags[c] for c in cells] + [student["genre macro AUC"]]:
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
    assert table_row(capsys.readouterr().out, "overall", "audiotaste")["tempo Acc1"] == "1.000"


def test_no_run_scores_only_what_is_cached(tmp_path, no_anchors, capsys):
    manifest = write_manifest(tmp_path)
    args = ["--manifest", str(manifest), "--cache", str(tmp_path / "cache"), "--anchors", "audiotaste"]
    assert bench_real.main([*args, "--no-run"]) == 0
    assert not (tmp_path / "cache").exists()  # nothing ran
    assert "| audiotaste |" not in capsys.readouterr().out  # and nothing was scored


def test_an_empty_split_is_a_clear_error(tmp_path, no_anchors, capsys):
    manifest = write_manifest(tmp_path)
    assert bench_real.main(["--manifest", str(manifest), "--split", "unlabelled", "--cache", str(tmp_path)]) == 1
    assert "no rows in split 'unlabelled'" in capsys.readouterr().err


def test_genre_truth_is_the_4q_clips_allmusic_genres_only():
    rows = [
        {"clip_id": "q", "genres": "Pop/Rock;Folk", "quadrant": "Q1"},
        # a `genre` source's row: Jamendo's "Pop" is not AllMusic's Pop/Rock, so it is not a negative
        {"clip_id": "j", "genres": "Pop", "quadrant": "", "genre": "pop"},
        {"clip_id": "c", "genres": "", "quadrant": ""},
    ]
    assert bench_real.genre_truth(rows) == {"q": {"Pop/Rock", "Folk"}}
    tagger = next(a for a in bench_real.runners.anchors() if "tags" in a.tasks)
    assert [bench_real.wants(tagger, r) for r in rows] == [True, False, False]
