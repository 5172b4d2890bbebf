"""Model folders: ``model.safetensors`` + ``card.json``, written atomically and checked on load.

The card is the model's contract with the rest of audiotaste: its labels (one list per taxonomy, in
the order of the network's outputs), the front end it was trained on, the architecture, the calibration
temperatures, how it was trained and what it scored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from audiotaste._io import atomic_path, atomic_write_bytes, atomic_write_json
from audiotaste.constants import ANALYSIS_SR
from audiotaste.errors import ModelError
from audiotaste.features.spectrum import HOP_LENGTH, N_FFT

from .model import FrontEnd, TaggerNet

__all__ = [
    "CARD_NAME",
    "WEIGHTS_NAME",
    "atomic_write_bytes",
    "save_tensors",
    "load_tensors",
    "write_model",
    "read_card",
    "build_net",
]

CARD_NAME = "card.json"
WEIGHTS_NAME = "model.safetensors"
CARD_FORMAT = 1


def save_tensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """``safetensors`` file written atomically (a killed run never leaves half a checkpoint)."""
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file; a missing or corrupt file is a :class:`ModelError`."""
    if not path.is_file():
        raise ModelError(path, "weights file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(path, f"not a readable safetensors file ({exc})") from None


def write_model(folder: Path, net: TaggerNet, card: dict[str, Any]) -> None:
    """Write weights then card (the card last, so a folder with a card always has its weights)."""
    folder = Path(folder)
    card = {"format": CARD_FORMAT, **card}
    save_tensors(folder / WEIGHTS_NAME, dict(net.state_dict()))
    atomic_write_json(folder / CARD_NAME, card, indent=2)


def read_card(folder: Path) -> dict[str, Any]:
    """The card of a model folder, checked for the fields and the front end audiotaste needs."""
    path = Path(folder) / CARD_NAME
    if not path.is_file():
        raise ModelError(folder, f"no {CARD_NAME}: not a model folder")
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(path, f"unreadable model card ({exc})") from None
    if not isinstance(card, dict):
        raise ModelError(path, "model card is not a JSON object")
    for key in ("name", "version", "labels", "frontend", "architecture"):
        if key not in card:
            raise ModelError(path, f"model card lacks {key!r}")
    labels = card["labels"]
    if not (
        isinstance(labels, dict)
        and labels
        and all(isinstance(v, list) and v for v in labels.values())
    ):
        raise ModelError(path, "model card 'labels' must map each taxonomy to a non-empty list")
    try:
        frontend = FrontEnd(**card["frontend"])
    except TypeError as exc:
        raise ModelError(path, f"model card has an unknown front end ({exc})") from None
    if frontend.norm not in ("patch", "band"):
        raise ModelError(path, f"model card has an unknown input normalisation {frontend.norm!r}")
    expected = {"sr": ANALYSIS_SR, "n_fft": N_FFT, "hop_length": HOP_LENGTH}
    for key, want in expected.items():
        got = getattr(frontend, key)
        if got != want:
            raise ModelError(
                path,
                f"model was trained with {key}={got} but audiotaste's front end uses {key}={want}; "
                "retrain it with `audiotaste train`",
            )
    return card


def build_net(card: dict[str, Any]) -> TaggerNet:
    """An untrained network of the architecture a card describes."""
    arch = dict(card["architecture"])
    n_labels = sum(len(v) for v in card["labels"].values())
    try:
        return TaggerNet(n_labels, n_mels=int(card["frontend"]["n_mels"]), **arch)
    except (TypeError, ValueError) as exc:
        raise ModelError(None, f"model card has an unknown architecture {arch} ({exc})") from None
