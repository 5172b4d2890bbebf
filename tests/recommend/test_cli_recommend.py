from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from audiotaste import cli_recommend

Run = Callable[..., Result]


@pytest.fixture()
def run(monkeypatch: pytest.MonkeyPatch, split, tmp_path: Path) -> Run:
    """Invoke a command with --events (two listeners' history) and --db (the test tracks frame)."""
    train, _, tracks = split
    monkeypatch.setattr(cli_recommend, "load_tracks", lambda db: tracks)
    app = typer.Typer()
    cli_recommend.register(app)
    events = tmp_path / "events.parquet"
    train[train.user_id.isin(["u00001", "u00002"])].to_parquet(events)
    db = tmp_path / "c.sqlite"

    def invoke(command: str, *args: str) -> Result:
        argv = [command, "--events", str(events), "--db", str(db), *args]
        return CliRunner().invoke(app, argv)

    return invoke


def test_recommend_json_cold_only(run: Run) -> None:
    r = run("recommend", "--user", "u00001", "-n", "5", "--cold-only", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    recs = out["recommendations"]
    assert len(recs) == 5 and all(x["listens"] == 0 for x in recs)
    assert all("nobody has played it yet" in x["reason"] for x in recs)
    assert out["events"]["match"]["unmatched"] == 0


def test_recommend_table_and_unknown_user(run: Run) -> None:
    r = run("recommend", "--user", "u00002")
    assert r.exit_code == 0 and "recommendations for u00002" in r.stdout
    r = run("recommend", "--user", "ghost")
    assert r.exit_code == 1 and "unknown listener" in r.output and "Traceback" not in r.output


def test_recommend_table_names_untagged_tracks_by_file_name(
    monkeypatch: pytest.MonkeyPatch, split, run: Run
) -> None:
    _, _, tracks = split
    untagged = tracks.drop(columns=["artist", "title"], errors="ignore").assign(
        path=lambda t: "/music/band_" + t["track_id"] + "-song_" + t["track_id"] + ".ogg"
    )
    monkeypatch.setattr(cli_recommend, "load_tracks", lambda db: untagged)
    r = run("recommend", "--user", "u00002", "-n", "3")
    assert r.exit_code == 0, r.output
    assert "“song " in r.stdout and " by band " in r.stdout


def test_profile_json(run: Run) -> None:
    r = run("profile", "--user", "u00001", "--json")
    assert r.exit_code == 0, r.output
    p = json.loads(r.stdout)["profile"]
    assert p["user_id"] == "u00001" and p["n_plays"] > 0 and p["genres"]
    r = run("profile")
    assert r.exit_code == 1 and "name one with user_id" in r.output


def test_profile_plot(run: Run, tmp_path: Path) -> None:
    png = tmp_path / "taste.png"
    r = run("profile", "--user", "u00001", "--plot", str(png))
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_empty_history_gets_a_labelled_default(split) -> None:
    train, _, tracks = split
    out = cli_recommend.recommend_command(train.iloc[:0], tracks, "u00001", n=3)
    assert len(out) == 3 and out.reason.str.contains("no listening history yet").all()
