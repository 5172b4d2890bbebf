"""The scoring pieces of scripts/tune_tempo_real.py, on known answers (no real corpus needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import tune_tempo_real as t  # noqa: E402

GRID = 5.0 + 0.5 * np.arange(100)  # 120 BPM from 5 s


def test_beat_f_known_answers() -> None:
    assert t.beat_f(GRID, GRID) == pytest.approx(1.0)
    assert t.beat_f(GRID + 0.05, GRID) == pytest.approx(1.0)  # inside +-70 ms
    assert t.beat_f(GRID + 0.10, GRID) == 0.0  # outside
    # every other beat (half tempo): precision 1, recall 1/2
    assert t.beat_f(GRID[::2], GRID) == pytest.approx(2 * 0.5 / 1.5, abs=0.01)
    # beats before 5 s are not scored, on either side
    assert t.beat_f(np.concatenate([[0.3, 1.1, 2.2], GRID]), GRID) == pytest.approx(1.0)
    assert t.beat_f(np.array([]), GRID) == 0.0


def test_beat_f_matches_each_reference_once() -> None:
    doubled = np.sort(np.concatenate([GRID, GRID + 0.02]))  # two estimates per reference beat
    assert t.beat_f(doubled, GRID) == pytest.approx(2 * 0.5 / 1.5, abs=0.01)


def test_scores_and_ratio_names() -> None:
    ratio, acc1, acc2 = t.scores([120.0, 61.0, 180.0, None, 100.0], np.array([120.0, 120.0, 120.0, 120.0, 120.0]))
    assert acc1.tolist() == [True, False, False, False, False]
    assert acc2.tolist() == [True, True, False, False, False]
    assert [t.ratio_name(r) for r in ratio] == ["x1", "x1/2", "x3/2", "null", "other"]


def test_dev_halves_are_deterministic_and_split_by_artist() -> None:
    names = [f"artist {i}" for i in range(200)]
    halves = [t.half_of(n) for n in names]
    assert halves == [t.half_of(n) for n in names]
    assert set(halves) == {"fit", "select"}
    assert 60 < halves.count("fit") < 140


def test_charts_without_an_artist_take_their_sources_half(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a mod's songs credit no composer but share them: every artistless chart of one source must
    # fall on one side, while credited charts keep the artist's own half
    rows = [{"clip_id": f"m{i}", "path": f"a/m{i}.ogg", "source": "fnf-mod", "artist": "", "tempo_bpm": 120.0,
             "split": "dev"} for i in range(12)]
    rows += [{"clip_id": "c", "path": "a/c.ogg", "source": "fnf-mod", "artist": "Composer", "tempo_bpm": 90.0,
              "split": "dev"}]
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    monkeypatch.setattr(t, "MANIFEST", manifest)
    monkeypatch.setattr(t, "load_features", lambda df, *a, **k: [{}] * len(df))
    df, _ = t.chart_rows("dev")
    assert t.half_of("fnf-mod") != t.half_of("nan")  # grouping by the missing artist would fail here
    assert set(df.half[df.artist.isna()]) == {t.half_of("fnf-mod")}
    assert df.half[df.artist == "Composer"].tolist() == [t.half_of("Composer")]
