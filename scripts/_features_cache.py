"""Per-clip inputs of the tempo and key models, computed once and cached (for the train/bench scripts).

For each manifest row the cache holds the tempo model's per-frame inputs (``tempogram.tempo_inputs``:
onset bands with the harmonic change, and band levels) and, in a separate entry, the key features
the frame-wise pitch classes the key model's summaries are made of (``pitch.key_frames``, float16: any
window of a clip can be summarised), as ``<cache>/<sha1>.npz``; an entry is reused while the audio
file's size and mtime and its kind's tag (``TEMPO_TAG``, ``FRAMES_TAG``) are unchanged.
"""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def read_manifest(path: Path) -> pd.DataFrame:
    """The manifest with ``path`` made absolute (manifest paths are relative to its folder)."""
    df = pd.read_csv(path)
    base = path.parent
    df["abspath"] = [str(p if Path(p).is_absolute() else base / p) for p in df["path"]]
    return df


#: Bump when tempo_inputs (tempo) or pitch.key_frames (frames) change, so that stale cache entries
#: of that kind are recomputed.
TEMPO_TAG = "v5"
FRAMES_TAG = "keyframes-v1"


def _entry(cache: Path, audio: str, tag: str) -> Path:
    path = Path(audio).resolve()  # the same clip reached by a relative path hits the same entry
    st = path.stat()
    stamp = f"{path}|{st.st_size}|{st.st_mtime_ns}|{tag}".encode()
    return cache / f"{hashlib.sha1(stamp).hexdigest()}.npz"


def _compute(args: tuple[str, str | None, str | None]) -> None:
    audio, tempo_out, frames_out = args
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy's BLAS threads thrash on a shared machine (10x slower here)
    from audiotaste.audio import load
    from audiotaste.features.pitch import key_frames
    from audiotaste.features.spectrum import melspectrogram, stft_power
    from audiotaste.features.tempogram import tempo_inputs

    y, sr = load(audio, sr=22050)
    if tempo_out:
        spectrum = stft_power(y, sr=sr)
        bands, levels = tempo_inputs(melspectrogram(spectrum=spectrum), spectrum)
        save_npz(tempo_out, bands=bands, levels=levels.astype(np.float16))
    if frames_out:
        fr = key_frames(y, sr)
        empty = np.zeros((0,), np.float16)
        save_npz(frames_out, registers=empty if fr is None else fr.registers.astype(np.float16),
                 lowest=empty if fr is None else fr.lowest.astype(np.float16),
                 tonal_share=np.float32(0.0 if fr is None else fr.tonal_share),
                 fps=np.float32(0.0 if fr is None else fr.fps))


def save_npz(out: str | Path, **arrays: np.ndarray) -> None:
    """Write ``out`` (.npz) whole or not at all: beside it first, then one rename (a killed run
    leaves no half-written cache entry)."""
    tmp = Path(out).with_name(f".{Path(out).stem}.tmp.npz")  # hidden: a glob for *.npz never sees it
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.rename(out)


def load_features(
    df: pd.DataFrame, cache: Path, *, workers: int = 2, kinds: tuple[str, ...] = ("tempo", "frames")
) -> list[dict[str, Any]]:
    """Cached model inputs of every row of ``df`` (computing missing ones in parallel).

    ``kinds``: "tempo" gives ``bands`` and ``levels``, "frames" gives ``frames`` (``pitch.KeyFrames``,
    or ``None`` for silence).
    """
    from audiotaste.features.pitch import KeyFrames

    cache.mkdir(parents=True, exist_ok=True)
    tags = {"tempo": TEMPO_TAG, "frames": FRAMES_TAG}
    entries = {kind: [_entry(cache, p, tags[kind]) if kind in kinds else None for p in df["abspath"]]
               for kind in tags}
    todo = [
        (p, *(str(e) if e and not e.exists() else None for e in es))
        for p, *es in zip(df["abspath"], entries["tempo"], entries["frames"], strict=True)
    ]
    todo = [t for t in todo if any(t[1:])]
    if todo:
        print(f"computing {'/'.join(kinds)} features of {len(todo)} clips ({workers} workers)...", flush=True)
        with ProcessPoolExecutor(workers) as pool:
            for i, _ in enumerate(pool.map(_compute, todo, chunksize=8)):
                if (i + 1) % 200 == 0:
                    print(f"  {i + 1}/{len(todo)}", flush=True)
    out = []
    for t, fr in zip(entries["tempo"], entries["frames"], strict=True):
        row: dict[str, Any] = {}
        if t is not None:
            with np.load(t) as z:
                row["bands"] = z["bands"]
                row["levels"] = z["levels"].astype(np.float32)
        if fr is not None:
            with np.load(fr) as z:
                row["frames"] = None if z["lowest"].size == 0 else KeyFrames(
                    z["registers"].astype(np.float32), z["lowest"].astype(np.float32),
                    float(z["tonal_share"]), float(z["fps"]))
        out.append(row)
    return out
