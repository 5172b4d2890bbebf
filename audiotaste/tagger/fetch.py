"""Fetch the published musicnn weights into the user's model cache, as safetensors with a model card.

``pip download musicnn==0.1.0 --no-deps`` gets the wheel (never ``pip install``: its dependencies pull
TensorFlow and an old numpy); the wheel is opened as a zip, its ``MTT_musicnn`` and ``MSD_musicnn``
TensorFlow checkpoints are read with :mod:`audiotaste.tagger.tfcheckpoint`, mapped onto
:class:`~audiotaste.tagger.musicnn.MusicnnNet` and written as ``<cache>/musicnn-mtt/`` and
``<cache>/musicnn-msd/`` (``model.safetensors`` + ``card.json``). Everything is read and checked before
anything is written, and each folder appears by an atomic rename, so a failed or interrupted fetch never
leaves a half-written model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from email.parser import Parser
from pathlib import Path

import torch

from audiotaste.errors import ModelError
from audiotaste.tagger.musicnn_net import FRONT_END, MODEL_NAMES, MusicnnNet, state_dict_from_tf
from audiotaste.tagger.tfcheckpoint import read_checkpoint

__all__ = ["MUSICNN_VERSION", "MUSICNN_WHEEL_SHA256", "convert_musicnn_wheel", "fetch_musicnn"]

MUSICNN_VERSION = "0.1.0"
#: sha256 of musicnn-0.1.0-py3-none-any.whl as published on PyPI (files there are immutable).
MUSICNN_WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"

CITATION = (
    "Jordi Pons and Xavier Serra. musicnn: pre-trained convolutional neural networks for music audio "
    "tagging. Late-breaking/demo session, 20th International Society for Music Information Retrieval "
    "Conference (ISMIR), 2019. arXiv:1909.06654"
)
_DATASETS = {"musicnn-mtt": "MagnaTagATune", "musicnn-msd": "Million Song Dataset (Last.fm tags)"}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download_wheel(dest: Path, timeout: float) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", f"musicnn=={MUSICNN_VERSION}", "--no-deps",
           "--only-binary=:all:", "--disable-pip-version-check", "--quiet", "--retries", "2",
           "--timeout", "20", "-d", str(dest)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ModelError(
            f"musicnn=={MUSICNN_VERSION}",
            f"could not run pip download for musicnn=={MUSICNN_VERSION} ({e})",
        ) from None
    wheels = sorted(dest.glob("musicnn-*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        tail = [line for line in lines if not line.startswith("WARNING")][-2:] or lines[-2:]
        raise ModelError(
            f"musicnn=={MUSICNN_VERSION}",
            f"pip download musicnn=={MUSICNN_VERSION} failed (is PyPI reachable?): {' | '.join(tail)}",
        )
    return wheels[0]


def _read_wheel(
    wheel: Path, workdir: Path, expected_sha256: str | None
) -> dict[str, dict[str, torch.Tensor]]:
    """Checked state dicts of both models, by our model name."""
    if not wheel.is_file():
        raise ModelError(wheel, "wheel file is missing")
    try:
        zf = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as e:
        raise ModelError(wheel, f"not a readable wheel ({e})") from None
    with zf:
        names = set(zf.namelist())
        meta_name = f"musicnn-{MUSICNN_VERSION}.dist-info/METADATA"
        metas = [n for n in names if n.endswith(".dist-info/METADATA")]
        if meta_name not in names:
            found = ", ".join(sorted(metas)) or "no METADATA"
            raise ModelError(wheel, f"not the musicnn {MUSICNN_VERSION} wheel ({found})")
        meta = Parser().parsestr(zf.read(meta_name).decode("utf-8", errors="replace"))
        if meta.get("Name", "").lower() != "musicnn" or meta.get("Version") != MUSICNN_VERSION:
            raise ModelError(
                wheel,
                f"wheel is {meta.get('Name')} {meta.get('Version')}, expected musicnn {MUSICNN_VERSION}",
            )
        if expected_sha256 is not None:
            digest = _sha256(wheel)
            if digest != expected_sha256:
                raise ModelError(
                    wheel,
                    f"sha256 {digest} differs from the published musicnn {MUSICNN_VERSION} wheel",
                )
        states = {}
        for ours, (folder, labels) in MODEL_NAMES.items():
            ckpt_dir = workdir / folder
            ckpt_dir.mkdir()
            for suffix in (".index", ".data-00000-of-00001"):
                member = f"musicnn/{folder}/{suffix}"
                if member not in names:
                    raise ModelError(wheel, f"wheel lacks {member}")
                try:
                    (ckpt_dir / suffix).write_bytes(zf.read(member))
                except (
                    zipfile.BadZipFile,
                    OSError,
                    EOFError,
                ) as e:  # CRC or truncation inside the zip
                    raise ModelError(wheel, f"cannot extract {member} ({e})") from None
            tensors = read_checkpoint(f"{ckpt_dir}/")
            try:
                state = state_dict_from_tf(tensors)
                MusicnnNet(n_classes=len(labels)).load_state_dict(state, strict=True)
            except (KeyError, RuntimeError, ValueError) as e:
                raise ModelError(
                    wheel, f"musicnn/{folder} is not a musicnn checkpoint ({str(e)[:200]})"
                ) from None
            states[ours] = state
    return states


def _card(name: str, wheel: Path, sha256: str) -> dict[str, object]:
    folder, labels = MODEL_NAMES[name]
    return {
        "name": name,
        "version": MUSICNN_VERSION,
        "architecture": "musicnn",
        "format_version": 1,
        "labels": {"tag": labels},
        "front_end": FRONT_END,
        "outputs": {
            "tag": "sigmoid probabilities [n, 50]",
            "embedding": "penultimate layer [n, 200]",
        },
        "trained_on": _DATASETS[name],
        "source": {
            "package": "musicnn",
            "version": MUSICNN_VERSION,
            "wheel": wheel.name,
            "wheel_sha256": sha256,
            "checkpoint": f"musicnn/{folder}/",
            "url": "https://pypi.org/project/musicnn/0.1.0/",
        },
        "license": "ISC",
        "copyright": "Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019 (Jordi Pons)",
        "citation": CITATION,
    }


def _remove_stale(cache: Path, max_age_s: float = 3600.0) -> None:
    """Delete what a killed fetch left (hidden temp and replaced folders), once surely not in use."""
    now = time.time()
    for p in cache.glob(".musicnn-*"):
        try:
            if now - p.stat().st_mtime > max_age_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _install(staged: Path, target: Path) -> None:
    """Move a complete folder into place; an existing model is replaced only once the new one is whole."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def convert_musicnn_wheel(
    wheel: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    expected_sha256: str | None = MUSICNN_WHEEL_SHA256,
) -> list[Path]:
    """Convert an already downloaded musicnn wheel into model folders (no network).

    Parameters
    ----------
    wheel : path-like
        ``musicnn-0.1.0-py3-none-any.whl``.
    cache_dir : path-like
        Folder that receives ``musicnn-mtt/`` and ``musicnn-msd/`` (created if missing).
    expected_sha256 : str or None
        Refuse a wheel with another digest (``None`` skips the check).

    Returns
    -------
    list of Path
        The model folders written.

    Raises
    ------
    ModelError
        Not a zip, a wheel of another package or version, a missing checkpoint file, a truncated or
        corrupt checkpoint. Nothing is written to ``cache_dir`` then.
    """
    from safetensors.torch import save_file

    wheel, cache = Path(wheel), Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    _remove_stale(cache)
    with tempfile.TemporaryDirectory(prefix=".musicnn-fetch-", dir=cache) as tmp:
        work = Path(tmp)
        (work / "ckpt").mkdir()
        states = _read_wheel(wheel, work / "ckpt", expected_sha256)
        sha = _sha256(wheel)
        staged = {}
        for name, state in states.items():
            d = work / name
            d.mkdir()
            save_file(
                state,
                str(d / "model.safetensors"),
                metadata={"format": "pt", "source": "musicnn-0.1.0"},
            )
            (d / "card.json").write_text(json.dumps(_card(name, wheel, sha), indent=2) + "\n")
            os.chmod(d / "model.safetensors", 0o644)  # safetensors creates it owner-only
            staged[name] = d
        written = []
        for name, d in staged.items():
            _install(d, cache / name)
            written.append(cache / name)
    return written


def fetch_musicnn(
    cache_dir: str | os.PathLike[str] | None = None, *, timeout: float = 300.0
) -> list[Path]:
    """Download the musicnn 0.1.0 wheel from PyPI and convert its two taggers into the model cache.

    Parameters
    ----------
    cache_dir : path-like, optional
        Model cache (default: ``audiotaste._paths.cache_dir()``).
    timeout : float
        Seconds allowed for ``pip download``.

    Returns
    -------
    list of Path
        ``[<cache>/musicnn-mtt, <cache>/musicnn-msd]``.

    Raises
    ------
    ModelError
        pip could not download the wheel, or the wheel is not what we expect (see
        :func:`convert_musicnn_wheel`).
    """
    from audiotaste._paths import cache_dir as default_cache

    cache = Path(cache_dir) if cache_dir is not None else default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".musicnn-wheel-", dir=cache) as tmp:
        wheel = _download_wheel(Path(tmp), timeout)
        return convert_musicnn_wheel(wheel, cache)
