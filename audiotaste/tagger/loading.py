"""Finding and loading taggers: :func:`load_model` gives a :class:`~audiotaste.tagger.Tagger` of either kind.

Nothing here downloads anything: shipped models live in ``models/``, fetched ones in the user cache
(:mod:`audiotaste._paths`). A missing or corrupt model is always a :class:`~audiotaste.errors.ModelError`
naming the file and the reason.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import torch

from audiotaste._paths import cache_dir, models_dir
from audiotaste.errors import ModelError

from .base import Tagger
from .card import CARD_NAME, WEIGHTS_NAME, build_net, load_tensors, read_card
from .infer import CnnTagger

__all__ = ["MUSICNN_MODELS", "find_models", "load_model"]

#: Names that mean the musicnn port (``audiotaste models fetch musicnn`` puts them in the cache).
MUSICNN_MODELS = ("musicnn-msd", "musicnn-mtt")


def find_models() -> list[Path]:
    """Model folders installed: shipped ones first, then the user cache."""
    found = []
    for root in (models_dir(), cache_dir()):
        if root.is_dir():
            found += sorted(p for p in root.iterdir() if (p / CARD_NAME).is_file())
    return found


def load_model(name_or_path: str | os.PathLike[str] = "default") -> Tagger:
    """Load a tagger by name (``"default"``, a folder name under ``models/`` or the user cache,
    ``"musicnn-msd"``, ``"musicnn-mtt"``) or by the path of a model folder.

    Returns
    -------
    Tagger
        A :class:`~audiotaste.tagger.infer.CnnTagger`, or for musicnn models a
        :class:`~audiotaste.tagger.musicnn.MusicnnTagger`.

    Raises
    ------
    ModelError
        Missing, corrupt, or trained for another front end.
    """
    if str(name_or_path) in MUSICNN_MODELS and not Path(name_or_path).exists():
        try:
            from audiotaste.tagger.musicnn import load_musicnn
        except ImportError:
            raise ModelError(
                str(name_or_path),
                "the musicnn port is not available; run `audiotaste models fetch musicnn`",
            ) from None
        return load_musicnn(str(name_or_path))
    folder = _resolve(name_or_path).resolve()
    if _is_musicnn(folder):  # a musicnn folder given by path (a copy, or a cache elsewhere)
        from audiotaste.tagger.musicnn import MusicnnTagger

        return MusicnnTagger.load(folder)
    return _load_folder(
        folder, (folder / CARD_NAME).stat().st_mtime_ns, _mtime(folder / WEIGHTS_NAME)
    )


def _resolve(name_or_path: str | os.PathLike[str]) -> Path:
    given = Path(name_or_path)
    if (given / CARD_NAME).is_file():
        return given
    if not given.is_absolute() and len(given.parts) == 1:
        for root in (models_dir(), cache_dir()):
            if (root / given / CARD_NAME).is_file():
                return root / given
    names = ", ".join(p.name for p in find_models()) or "none"
    raise ModelError(name_or_path, f"no such tagger model (installed: {names})")


def _is_musicnn(folder: Path) -> bool:
    try:
        return bool(json.loads((folder / CARD_NAME).read_text()).get("architecture") == "musicnn")
    except (OSError, ValueError, AttributeError):
        return False  # read_card reports what is wrong with it


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else -1


@lru_cache(maxsize=8)
def _load_folder(folder: Path, _card_mtime: int, _weights_mtime: int) -> CnnTagger:
    # cached on the files' mtimes: analysing a folder loads each model once, a retrained one reloads
    card = read_card(folder)
    net = build_net(card)
    state = load_tensors(folder / WEIGHTS_NAME)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines()[1:3])
        raise ModelError(
            folder / WEIGHTS_NAME, f"weights do not match the model card ({detail})"
        ) from None
    # Channels-last weights make oneDNN run the convolutions on NHWC activations: the first layer
    # (one input plane) ~3x faster, the whole tagger ~12 % less CPU on one thread, the same outputs
    # up to float rounding (~1e-5 in a logit). Loaded models only: training keeps torch's default
    # layout, so that a resumed run stays bit-identical to an uninterrupted one.
    net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stub omits it
    return CnnTagger(net, card, path=folder)
