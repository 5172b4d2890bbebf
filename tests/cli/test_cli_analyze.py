import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import audiotaste.cli as cli_module
from audiotaste.cli import app

runner = CliRunner()


def _song(tmp_path: Path) -> Path:
    sr = 22050
    t = np.arange(sr * 6) / sr
    y = 0.3 * np.sin(2 * np.pi * 261.63 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    path = tmp_path / "song.wav"
    sf.write(path, y.astype(np.float32), sr)
    return path


def test_json_output_is_pure_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(_song(tmp_path)), "--json", "--no-tags"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["duration_s"] == 6.0 and "tempo_bpm" in data


def test_some_failed_exits_1_and_reports_each(tmp_path: Path) -> None:
    missing = tmp_path / "missing.ogg"
    result = runner.invoke(app, ["analyze", str(_song(tmp_path)), str(missing), "--json", "--no-tags"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert len(data) == 2 and data[1]["error"]["kind"] == "not_found"
    assert "missing.ogg" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_works_before_or_after_the_sub_command(tmp_path: Path, where: str) -> None:
    missing = str(tmp_path / "missing.ogg")
    args = ["-v", "analyze", missing] if where == "before" else ["analyze", missing, "--verbose"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # a failed input, not "No such option" (2)
    assert "missing.ogg" in result.stderr and "Traceback" in result.stderr
    quiet = runner.invoke(app, ["analyze", missing])  # and the next run is quiet again
    assert quiet.exit_code == 1 and "Traceback" not in quiet.stderr


def test_failures_print_once_the_same_way_in_every_command(tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.sqlite")
    for args in (["export", "--db", absent, str(tmp_path / "x.csv")],
                 ["report", "--db", absent, "--out", str(tmp_path / "r")],
                 ["recommend", "--events", absent, "--db", absent, "--user", "u"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and "absent.sqlite" in lines[0]


def test_usage_error_exits_2(tmp_path: Path) -> None:
    song = _song(tmp_path)
    result = runner.invoke(app, ["analyze", str(song), str(song), "--plot", str(tmp_path / "p.png")])
    assert result.exit_code == 2
    assert runner.invoke(app, ["analyze", "--no-such-option"]).exit_code == 2


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "plot.png"
    result = runner.invoke(app, ["analyze", str(_song(tmp_path)), "--plot", str(out), "--no-tags"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def musicnn_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A model cache with a musicnn-msd look-alike (real architecture, random weights): no PyPI."""
    import torch

    from audiotaste.analysis import load_tagger
    from audiotaste.tagger.musicnn import MSD_LABELS, MusicnnNet, MusicnnTagger

    torch.manual_seed(0)
    cache = tmp_path / "cache"
    card = {"name": "musicnn-msd", "version": "0.0-test", "labels": {"tag": MSD_LABELS}}
    MusicnnTagger(MusicnnNet(), card).save(cache / "musicnn-msd")
    monkeypatch.setenv("AUDIOTASTE_CACHE_DIR", str(cache))
    monkeypatch.setattr(cli_module.console, "width", 200)  # one table row per line
    load_tagger.cache_clear()
    yield cache
    load_tagger.cache_clear()


def test_real_world_shows_both_taxonomies_in_json_and_in_the_table(
    tmp_path: Path, musicnn_cache: Path
) -> None:
    from audiotaste.tagger import load_model

    song = _song(tmp_path)
    result = runner.invoke(app, ["analyze", str(song), "--real-world", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["tags"]) == {"genre", "mood", "tag"} and len(data["tags"]["tag"]) == 50
    assert data["tag_models"]["tag"] == "musicnn-msd@0.0-test"
    # genre/mood come from the shipped genre/mood head (models/tags), which reads the main model
    assert data["tag_models"]["genre"] == data["tag_models"]["mood"] != data["tag_models"]["tag"]
    own = load_model("musicnn-msd").predict_file(song)["tag"]
    assert data["tags"]["tag"] == pytest.approx(own, abs=1e-6)

    table = runner.invoke(app, ["analyze", str(song), "--real-world"])
    assert table.exit_code == 0, table.output
    lines = {line.split("  ")[0].strip(): line for line in table.stdout.splitlines()}
    top5 = sorted(own, key=lambda k: -own[k])[:5]
    assert "genre" in lines and "mood" in lines
    assert all(f"{name} {own[name]:.2f}" in lines["real-world tags"] for name in top5)
    # "default@1.5.0+tags@1.0.0": the CNN and its genre/mood head, then the extra model
    assert data["model"].endswith(f"+{data['tag_models']['genre']}")
    assert " + ".join(data["model"].split("+")) + " + musicnn-msd@0.0-test" in lines["model"]


def test_the_table_says_how_to_get_real_world_tags(tmp_path: Path, musicnn_cache: Path) -> None:
    song = _song(tmp_path)
    fetched = runner.invoke(app, ["analyze", str(song)])
    assert fetched.exit_code == 0 and "add --real-world" in fetched.stdout


def test_without_the_fetch_real_world_tags_come_from_the_student_and_the_cli_says_how_to_get_musicnn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiotaste.analysis import load_tagger

    monkeypatch.setenv("AUDIOTASTE_CACHE_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(cli_module.console, "width", 200)
    load_tagger.cache_clear()
    song = _song(tmp_path)
    plain = runner.invoke(app, ["analyze", str(song)])
    assert plain.exit_code == 0 and "audiotaste models fetch musicnn" in plain.stdout
    assert "shipped student" in plain.stdout
    # --real-world works without the fetch: the shipped student tags, and the table says so
    asked = runner.invoke(app, ["analyze", str(song), "--real-world"])
    assert asked.exit_code == 0, asked.output
    lines = {line.split("  ")[0].strip(): line for line in asked.stdout.splitlines()}
    assert "real-world tags" in lines and "musicnn-msd-student@" in lines["model"]
    assert "audiotaste models fetch musicnn" in lines["note"]
    data = json.loads(runner.invoke(app, ["analyze", str(song), "--real-world", "--json"]).stdout)
    assert data["tag_models"]["tag"].startswith("musicnn-msd-student@") and len(data["tags"]["tag"]) == 50
    # asking for the teacher itself by name still says how to get it
    teacher = runner.invoke(app, ["analyze", str(song), "--extra-model", "musicnn-msd"])
    assert teacher.exit_code == 1 and "Traceback" not in teacher.output
    assert "audiotaste models fetch musicnn" in teacher.stderr
    load_tagger.cache_clear()


def test_cli_start_up_loads_no_table_or_learning_library() -> None:
    """A cold `audiotaste analyze` must stay under 3 s: the CLI's start-up (every sub-command's
    module) loads neither pandas nor scikit-learn nor librosa (~0.6 s, ~1 s, ~40 s of JIT)."""
    import subprocess
    import sys

    code = ("import sys, audiotaste.cli; "
            "print(sorted(m for m in ('pandas', 'sklearn', 'librosa', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
