"""One Tagger protocol: both taggers implement it, and callers use nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotaste.features.spectrum import melspectrogram, stft_power
from audiotaste.tagger import CnnTagger, Tagger, load_model
from audiotaste.tagger.musicnn import MSD_LABELS, MusicnnNet, MusicnnTagger

ROOT = Path(__file__).resolve().parents[2]
TAGGER_NAMES = ("tagger", "teacher", "student", "main", "extra")


def _musicnn() -> MusicnnTagger:
    torch.manual_seed(0)
    return MusicnnTagger(MusicnnNet(n_classes=len(MSD_LABELS)), {"name": "m", "version": "0", "labels": {"tag": MSD_LABELS}})


def _signal(sr: int, seconds: float = 7.0) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("kind", ["cnn", "musicnn"])
def test_both_taggers_are_taggers_and_their_stream_equals_predict_audio(kind: str) -> None:
    tagger: Tagger = load_model("default") if kind == "cnn" else _musicnn()
    assert isinstance(tagger, Tagger)
    assert isinstance(tagger, CnnTagger if kind == "cnn" else MusicnnTagger)
    assert tagger.sr == (22050 if kind == "cnn" else 16000)
    y = _signal(tagger.sr)
    whole = tagger.predict_audio(y)
    stream = tagger.stream()
    for piece in np.array_split(y, 5):
        stream.add(piece)
    streamed = stream.finish()
    for tax, probs in whole.tags.items():
        assert streamed.tags[tax] == pytest.approx(probs, abs=1e-6)
    assert whole.patch_probs.shape[1] == len(tagger.label_names) == sum(map(len, tagger.labels.values()))
    # a segment at the analysis rate: the same tags as the tagger's own front end, head aside
    y22 = _signal(22050)
    spectrum = stft_power(y22)
    seg = tagger.predict_segment(y22, spectrum, melspectrogram(spectrum=spectrum))
    own = tagger.predict_audio(y22, sr=22050)
    first = next(iter(tagger.labels))
    if kind == "musicnn" or first == "genre":  # genre has no track head
        assert seg.tags[first] == pytest.approx(own.tags[first], abs=1e-4)
    # without a head (musicnn) apply_track_head changes nothing
    if kind == "musicnn":
        assert tagger.apply_track_head(seg.tags, mode=0, key_confidence=1.0) == seg.tags


def test_load_model_is_typed_as_the_protocol() -> None:
    import inspect

    from audiotaste.tagger import loading

    assert inspect.signature(loading.load_model).return_annotation in (Tagger, "Tagger")


def _python_files() -> list[Path]:
    files = [p for p in (ROOT / "audiotaste").rglob("*.py") if "tagger" not in p.relative_to(ROOT).parts[1:2]]
    return files + list((ROOT / "scripts").rglob("*.py"))


def test_no_caller_probes_a_tagger_or_calls_its_private_parts() -> None:
    """Outside ``audiotaste/tagger/`` a tagger is used through the protocol only: no ``hasattr`` or
    ``getattr`` on it, no ``tagger._private``, no private name imported from the tagger package."""
    found = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("hasattr", "getattr") and node.args
                    and isinstance(node.args[0], ast.Name)
                    and any(n in node.args[0].id for n in TAGGER_NAMES)):
                found.append(f"{where}:{node.lineno}: {node.func.id}({node.args[0].id}, ...)")
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__") and isinstance(node.value, ast.Name)
                    and any(n in node.value.id for n in TAGGER_NAMES)):
                found.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr}")
            if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("audiotaste.tagger")
                    and any(a.name.startswith("_") for a in node.names)):
                found.append(f"{where}:{node.lineno}: imports a private name from {node.module}")
    assert not found, "\n".join(found)
