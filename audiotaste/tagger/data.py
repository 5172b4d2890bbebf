"""Labelled audio for training: our corpus manifest, a user's CSV, or a folder per label; and the log-mel
cache that makes epochs cheap.

Accepted sources
----------------
* **A CSV** with a ``path`` column (relative paths are relative to the CSV's folder) and any of:
  ``genre`` (one label, or several joined by ``;``), ``moods`` or ``mood`` (``;``-joined), ``labels``
  (``;``-joined; ``"mood:calm"`` goes to taxonomy ``mood``, a bare ``"calm"`` to taxonomy ``tag``).
  An optional ``split`` column holds ``train``/``val``/``test``. This covers the corpus manifest
  (``clip_id, path, genre, moods, split, ...``) and a user's ``path,labels`` file.
* **A folder per label** (GTZAN layout, ``root/<genre>/<file>``): taxonomy ``genre``.

Without a split column, items are assigned by a hash of their path: 80 % train, 20 % val. Only labels
seen in the train split become outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audiotaste._io import atomic_path
from audiotaste.errors import AudiotasteError, InputError

from .base import load_mono
from .infer import log_mel
from .model import FrontEnd

__all__ = ["LabelledData", "read_labelled", "cached_mels", "AUDIO_SUFFIXES"]

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".au", ".aiff", ".aif"}
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class LabelledData:
    """Audio files with multi-label targets.

    Attributes
    ----------
    paths : tuple of Path
        Absolute paths.
    splits : np.ndarray [n_items], str
        ``"train"``, ``"val"`` or ``"test"``.
    labels : dict
        Taxonomy -> label names, in output order.
    targets : np.ndarray [n_items, n_labels], float32
        0/1, columns in the flattened ``labels`` order.
    groups : dict
        Extra per-item columns of the source (e.g. ``soundfont``), for reports.
    """

    paths: tuple[Path, ...]
    splits: np.ndarray
    labels: dict[str, list[str]]
    targets: np.ndarray
    groups: dict[str, np.ndarray]

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.splits == split)


def _split_of(key: str) -> str:
    h = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < 0.2 else "train"


def _from_folder(root: Path) -> pd.DataFrame:
    rows = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(sub.rglob("*")):
            if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES:
                rows.append({"path": str(f), "genre": sub.name})
    if not rows:
        raise InputError(root, "no audio files in label sub-folders (expected root/<label>/<file>)")
    return pd.DataFrame(rows)


def _split_labels(cell: object) -> list[str]:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return []
    return [s.strip() for s in str(cell).split(";") if s.strip()]


def read_labelled(source: str | os.PathLike[str]) -> LabelledData:
    """Read a labelled data set (see the module docstring for the accepted layouts).

    Raises
    ------
    InputError
        Missing source, no path column, no label column, unknown split names, no training labels.
    """
    source = Path(source)
    if source.is_dir():
        frame, base = _from_folder(source), source
    elif source.is_file():
        try:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise InputError(source, f"not a readable CSV ({exc})") from None
        base = source.parent
    else:
        raise InputError(source, "no such manifest file or label folder")
    if "path" not in frame.columns:
        raise InputError(source, "needs a 'path' column")
    mood_col = "moods" if "moods" in frame.columns else "mood" if "mood" in frame.columns else None
    if not {"genre", "labels"} & set(frame.columns) and mood_col is None:
        raise InputError(source, "needs a label column: genre, moods/mood or labels")
    frame = frame[frame["path"].astype(str).str.strip() != ""].reset_index(drop=True)
    if frame.empty:
        raise InputError(source, "lists no files")

    item_labels: list[dict[str, list[str]]] = []
    for _, row in frame.iterrows():
        lab: dict[str, list[str]] = {}
        if "genre" in frame.columns:
            lab["genre"] = _split_labels(row["genre"])
        if mood_col is not None:
            lab["mood"] = _split_labels(row[mood_col])
        if "labels" in frame.columns:
            for entry in _split_labels(row["labels"]):
                tax, _, name = entry.rpartition(":")
                if name.strip():  # "mood:" or ":" name no label
                    lab.setdefault(tax.strip() or "tag", []).append(name.strip())
        item_labels.append(lab)

    paths = tuple((base / p).resolve() for p in frame["path"].astype(str))
    if "split" in frame.columns:
        splits = frame["split"].astype(str).str.strip().str.lower().to_numpy()
        bad = sorted(set(splits) - set(SPLITS))
        if bad:
            raise InputError(source, f"unknown split names {bad}; use train, val or test")
    else:
        splits = np.array(
            [
                _split_of(str(p.relative_to(base)) if p.is_relative_to(base) else str(p))
                for p in paths
            ]
        )

    train = splits == "train"
    taxonomies = sorted(
        {t for lab in item_labels for t in lab}, key=lambda t: (t not in ("genre", "mood"), t)
    )
    labels: dict[str, list[str]] = {}
    for tax in taxonomies:
        seen = sorted(
            {n for lab, tr in zip(item_labels, train, strict=True) if tr for n in lab.get(tax, [])}
        )
        if seen:
            labels[tax] = seen
    if not labels:
        raise InputError(source, "no labels in the train split")
    columns = {
        (tax, n): i for i, (tax, n) in enumerate((t, n) for t, ns in labels.items() for n in ns)
    }
    targets = np.zeros((len(paths), len(columns)), dtype=np.float32)
    for i, lab in enumerate(item_labels):
        for tax, names in lab.items():
            for n in names:
                if (tax, n) in columns:
                    targets[i, columns[(tax, n)]] = 1.0
    groups = {c: frame[c].to_numpy() for c in ("soundfont", "clip_id") if c in frame.columns}
    return LabelledData(paths=paths, splits=splits, labels=labels, targets=targets, groups=groups)


def cached_mels(
    paths: tuple[Path, ...] | list[Path],
    frontend: FrontEnd,
    cache: Path,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[np.ndarray | None], list[AudiotasteError]]:
    """Log-mels of many files, computed once and kept as float16 ``.npy`` files in ``cache``.

    The cache key is the file's absolute path, size and modification time plus the front end, so a
    changed file or front end is recomputed. A file that cannot be read is skipped (``None``) and its
    error returned rather than stopping a long run.

    Returns
    -------
    mels : list of np.ndarray [n_mels, n_frames] float16, or None
    errors : list of AudiotasteError
    """
    cache.mkdir(parents=True, exist_ok=True)
    # input normalisation happens after the cache, so it is not part of the key
    fe_key = json.dumps({k: v for k, v in frontend.to_dict().items() if k != "norm"}, sort_keys=True)
    mels: list[np.ndarray | None] = []
    errors: list[AudiotasteError] = []
    for i, path in enumerate(paths):
        try:
            st = path.stat()
            key = hashlib.sha1(
                f"{path}|{st.st_size}|{st.st_mtime_ns}|{fe_key}".encode()
            ).hexdigest()[:24]
            file = cache / f"{key}.npy"
            if file.is_file():
                mel = np.load(file, allow_pickle=False)
            else:
                mel = log_mel(load_mono(path, frontend.sr), frontend).astype(np.float16)
                with atomic_path(file) as tmp, open(tmp, "wb") as f:
                    np.save(f, mel, allow_pickle=False)
            mels.append(mel)
        except FileNotFoundError:
            errors.append(InputError(path, "listed but not found"))
            mels.append(None)
        except AudiotasteError as exc:
            errors.append(exc)
            mels.append(None)
        if on_progress is not None:
            on_progress(i + 1)
    return mels, errors
