from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from audiotaste import cli_recommend


@pytest.fixture()
def app(monkeypatch: pytest.MonkeyPatch, split) -> typer.Typer:
    _, _, tracks = split
    monkeypatch.setattr(cli_recommend, "load_tracks", lambda db: tracks)
    a = typer.Typer()
    cli_recommend.register(a)
    return a


@pytest.fixture()
def events_file(tmp_path: Path, split) -> Path:
    train, _, _ = split
    p = tmp_path / "events.parquet"
    train[train.user_id.isin(["u00001", "u00002"])].to_parquet(p)
    return p


def test_recommend_json_cold_only(app: typer.Typer, events_file: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app,
        [
            "recommend",
            "--events",
            str(events_file),
            "--db",
            str(tmp_path / "c.sqlite"),
            "--user",
            "u00001",
            "-n",
            "5",
            "--cold-only",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    recs = out["recommendations"]
    assert len(recs) == 5 and all(x["listens"] == 0 for x in recs)
    assert all("nobody has played it yet" in x["reason"] for x in recs)
    assert out["events"]["match"]["unmatched"] == 0


def test_recommend_table_and_unknown_user(
    app: typer.Typer, events_file: Path, tmp_path: Path
) -> None:
    db = str(tmp_path / "c.sqlite")
    r = CliRunner().invoke(
        app, ["recommend", "--events", str(events_file), "--db", db, "--user", "u00002"]
    )
    assert r.exit_code == 0 and "recommendations for u00002" in r.stdout
    r = CliRunner().invoke(
        app, ["recommend", "--events", str(events_file), "--db", db, "--user", "ghost"]
    )
    assert r.exit_code == 1 and "unknown listener" in r.output and "Traceback" not in r.output


def test_profile_json(app: typer.Typer, events_file: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app,
        [
            "profile",
            "--events",
            str(events_file),
            "--db",
            str(tmp_path / "c"),
            "--user",
            "u00001",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    p = json.loads(r.stdout)["profile"]
    assert p["user_id"] == "u00001" and p["n_plays"] > 0 and p["genres"]
    r = CliRunner().invoke(
        app, ["profile", "--events", str(events_file), "--db", str(tmp_path / "c")]
    )
    assert r.exit_code == 1 and "name one with user_id" in r.output


def test_empty_history_gets_a_labelled_default(split) -> None:
    train, _, tracks = split
    out = cli_recommend.recommend_command(train.iloc[:0], tracks, "u00001", n=3)
    assert len(out) == 3 and out.reason.str.contains("no listening history yet").all()
    assert isinstance(out, pd.DataFrame)


def test_profile_plot(app: typer.Typer, events_file: Path, tmp_path: Path) -> None:
    png = tmp_path / "taste.png"
    r = CliRunner().invoke(
        app,
        [
            "profile",
            "--events",
            str(events_file),
            "--db",
            str(tmp_path / "c"),
            "--user",
            "u00001",
            "--plot",
            str(png),
        ],
    )
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
