"""Where shipped models and the user's model cache live.

Shipped weights sit in the repository's ``models/`` folder in a source checkout or an editable install,
and in ``<prefix>/share/audiotaste/models`` after a wheel install (``pyproject.toml``'s data files);
``AUDIOTASTE_MODELS_DIR`` overrides both. Models fetched by an explicit
``audiotaste models fetch`` go to the user cache (``AUDIOTASTE_CACHE_DIR``, else
``$XDG_CACHE_HOME/audiotaste``, else ``~/.cache/audiotaste``). Nothing here downloads anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def models_dir() -> Path:
    """The folder of shipped models."""
    env = os.environ.get("AUDIOTASTE_MODELS_DIR")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parent.parent
    # pyproject.toml beside the package means a source checkout; without it, root is site-packages,
    # where a folder called models/ could belong to any other package
    if (root / "pyproject.toml").is_file():
        return root / "models"
    return Path(sys.prefix) / "share" / "audiotaste" / "models"


def model_path(relative: str) -> Path:
    """Path of a shipped model file or folder, e.g. ``model_path("default/card.json")``."""
    return models_dir() / relative


def cache_dir() -> Path:
    """The user's model cache (created on demand by the commands that write to it)."""
    env = os.environ.get("AUDIOTASTE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "audiotaste"
