"""The HTML report: built from a real (small) catalogue, then loaded in headless Chromium."""

import copy
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audiotaste.catalogue import Catalogue
from audiotaste.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SR = 22050


def _song(path: Path, freq: float, bpm: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(SR * 8) / SR
    y = 0.2 * np.sin(2 * np.pi * freq * t) + 0.1 * np.sin(2 * np.pi * 1.5 * freq * t)
    for beat in np.arange(0, 8, 60 / bpm):
        i = int(beat * SR)
        y[i : i + 800] += 0.4 * rng.standard_normal(min(800, len(y) - i)) * np.exp(-np.arange(min(800, len(y) - i)) / 150)
    sf.write(path, y.astype(np.float32), SR)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from typer.testing import CliRunner

    from audiotaste.cli import app

    root = tmp_path_factory.mktemp("report")
    music = root / "music"
    music.mkdir()
    for i, (freq, bpm) in enumerate([(220, 90), (261.6, 120), (330, 140), (392, 100), (440, 128), (294, 75)]):
        _song(music / f"song{i}.wav", freq, bpm, i)
    db = root / "cat.sqlite"
    result = CliRunner().invoke(app, ["tag", str(music), "--db", str(db), "--workers", "1"])
    assert result.exit_code == 0, result.output
    tracks = Catalogue.open(db, readonly=True).to_pandas()
    ids = list(tracks["track_id"])
    rows = []
    for user, liked in (("ann", ids[:3]), ("bob", ids[2:5])):
        for k in range(30):
            rows.append({"user_id": user, "track_id": liked[k % len(liked)],
                         "timestamp": pd.Timestamp("2026-11-01", tz="UTC") + pd.Timedelta(hours=5 * k),
                         "ms_played": 200_000 if k % 4 else 8_000, "skipped": k % 4 == 0})
    events = root / "events.csv"
    pd.DataFrame(rows).to_csv(events, index=False)
    return db, events


def test_report_has_every_section(catalogue: tuple[Path, Path], tmp_path: Path) -> None:
    db, events = catalogue
    result = build_report(db, tmp_path / "out", events=events, max_tracks=2)
    page = result.path.read_text()
    for section in ("catalogue", "tracks", "calibration", "profiles", "recommendations", "discovery"):
        assert section in result.sections and f"id='{section}'" in page
    assert set(result.users) == {"ann", "bob"}
    assert page.count("data:image/png;base64,") >= 2 + 2  # track panels + profiles
    assert "http://" not in page and "https://" not in page  # works offline: no CDN
    # both heads' reliability on real music: valence/arousal and the genre/mood head
    assert 'alt="reliability diagram"' in page and 'alt="genre and mood reliability diagram"' in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/sysdeps.sh installs it)")
def test_report_loads_in_headless_chromium(catalogue: tuple[Path, Path], tmp_path: Path) -> None:
    db, events = catalogue
    result = build_report(db, tmp_path / "out", events=events, max_tracks=2)
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    url = result.path.resolve().as_uri()
    dom = subprocess.run(flags + [f"--user-data-dir={tmp_path / 'ud1'}", "--virtual-time-budget=5000",
                                  "--dump-dom", url], capture_output=True, text=True, timeout=120)
    body = dom.stdout[dom.stdout.index("<body"):].split(">", 1)[0]
    assert 'data-broken-images="0"' in body and 'data-errors="0"' in body, body
    n_images = int(body.split('data-images="')[1].split('"')[0])
    assert n_images >= 4
    shot = tmp_path / "shot.png"
    subprocess.run(flags + [f"--user-data-dir={tmp_path / 'ud2'}", "--window-size=1280,2400",
                            f"--screenshot={shot}", url], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_an_affect_card_without_reliability_data_is_named_not_drawn(
    catalogue: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiotaste.tagger import affect

    head = affect.load_affect_head()
    if head is None:
        pytest.skip("models/affect not installed")
    bare = copy.copy(head)
    bare.card = {k: v for k, v in head.card.items() if k != "metrics"}
    monkeypatch.setattr(affect, "load_affect_head", lambda: bare)
    db, _ = catalogue
    result = build_report(db, tmp_path / "out", max_tracks=0)
    assert "calibration" not in result.sections
    assert any("no reliability data" in w for w in result.warnings)
