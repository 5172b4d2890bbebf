"""Where shipped models are found: source checkout, wheel install, environment override."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import audiotaste._paths as paths

REPO = Path(__file__).resolve().parent.parent


def test_a_source_checkout_uses_its_models_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIOTASTE_MODELS_DIR", raising=False)
    assert paths.models_dir() == REPO / "models"
    assert (paths.model_path("default") / "card.json").is_file()


def test_a_wheel_install_uses_the_data_files_under_the_prefix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # site-packages holds an unrelated top-level models/ folder: it must not be taken for ours
    site = tmp_path / "site-packages"
    (site / "audiotaste").mkdir(parents=True)
    (site / "models" / "default").mkdir(parents=True)
    monkeypatch.delenv("AUDIOTASTE_MODELS_DIR", raising=False)
    monkeypatch.setattr(paths, "__file__", str(site / "audiotaste" / "_paths.py"))
    assert paths.models_dir() == Path(sys.prefix) / "share" / "audiotaste" / "models"


def test_the_environment_overrides_both(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUDIOTASTE_MODELS_DIR", str(tmp_path))
    assert paths.model_path("default/card.json") == tmp_path / "default" / "card.json"


def test_the_wheel_carries_every_shipped_model_file() -> None:
    import tomllib

    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped = {p.relative_to(REPO / "models") for p in (REPO / "models").rglob("*") if p.is_file()}
    carried = {
        (REPO / f).relative_to(REPO / "models")
        for patterns in data_files.values()
        for pattern in patterns
        for f in [p.relative_to(REPO) for p in REPO.glob(pattern)]
    }
    assert shipped and shipped == carried
    for target, patterns in data_files.items():
        for pattern in patterns:
            assert target == "share/audiotaste/" + str(Path(pattern).parent)
