"""`audiotaste tag` / `audiotaste export` exit codes and messages (in-process, fake analyser)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import typer
from typer.testing import CliRunner

from audiotaste.catalogue import Catalogue
from audiotaste.cli.catalogue import register

app = typer.Typer()
register(app)
FAKE = ["--analyzer", "catalogue_fakes:factory", "-j", "0"]


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _row(output: str, label: str) -> str:
    """The count in the summary table's row ``label``."""
    line = next(x for x in output.splitlines() if f" {label} " in x)
    return line.strip("│ ").split("│")[-1].strip()


@pytest.fixture
def music(tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(3):
        sf.write(tmp_path / "in" / f"t{i}.wav", np.full(800, 0.2 * (i + 1), "f4"), 8000)
    return tmp_path


@pytest.mark.parametrize("args", [
    ["tag", "x"],                                            # neither --db nor --out
    ["tag", "x", "--db", "a.sqlite", "--out", "d"],          # both
    ["tag", "x", "--db", "a.sqlite", "--address", "ray://h:10001"],  # --address without ray
    ["tag", "x", "--db", "a.sqlite", "--engine", "spark"],
    ["tag", "x", "--db", "a.sqlite", "--workers", "-1"],
    ["export", "--db", "a.sqlite", "out.xlsx"],
])
def test_usage_errors_exit_2(args):
    result = run(*args)
    assert result.exit_code == 2, result.output


def test_tag_all_good_exits_0_then_skips_everything(music):
    db = music / "c.sqlite"
    first = run("tag", music / "in", "--db", db, *FAKE)
    assert first.exit_code == 0, first.output
    assert _row(first.output, "analysed") == "3"
    second = run("tag", music / "in", "--db", db, *FAKE)
    assert second.exit_code == 0
    assert (_row(second.output, "analysed"), _row(second.output, "skipped (unchanged)")) == ("0", "3")
    with Catalogue.open(db) as cat:
        assert len(cat) == 3


def test_some_failures_exit_1_and_each_is_reported(music):
    (music / "in" / "bad.flac").write_bytes(b"fLaC" + bytes(64))
    (music / "in" / "[red]odd.wav").write_text("not audio")  # markup in a name stays literal
    result = run("tag", music / "in", "--db", music / "c.sqlite", *FAKE)
    assert result.exit_code == 1
    assert "bad.flac" in result.output and "[red]odd.wav" in result.output
    assert "Traceback" not in result.output


def test_missing_catalogue_folder_is_a_clear_error(music):
    result = run("tag", music / "in", "--db", music / "nope" / "c.sqlite", *FAKE)
    assert result.exit_code == 1
    assert "nope" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_out_parquet_dataset_then_export_to_every_format(music):
    ds = music / "ds"
    assert run("tag", music / "in", "--out", ds, *FAKE).exit_code == 0
    for ext in ("csv", "jsonl", "parquet", "sqlite"):
        result = run("export", "--db", ds, music / f"out.{ext}")
        assert result.exit_code == 0, result.output
        assert "3 tracks written" in result.output
    lines = (music / "out.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["model"] == "fake@1"
    missing = run("export", "--db", music / "none.sqlite", music / "o.csv")
    assert missing.exit_code == 1 and "no such catalogue" in missing.output
