import json
from pathlib import Path

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

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
