"""Per-clip inputs of the tempo and key models, computed once and cached (helper of train_tempo/train_key).

For each manifest row the cache holds the onset bands (``rhythm.onset_bands`` of the shared mel
front end) and the key features (``tonal.key_features``) in ``<cache>/<sha1 of path>.npz``; a cache
entry is reused while the audio file's size and mtime and ``FEATURES_VERSION`` are unchanged.
"""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

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


#: Bump when onset_bands or key_features change, so that stale cache entries are recomputed.
FEATURES_VERSION = 2


def _entry(cache: Path, audio: str) -> Path:
    st = Path(audio).stat()
    tag = f"{audio}|{st.st_size}|{st.st_mtime_ns}|v{FEATURES_VERSION}".encode()
    return cache / f"{hashlib.sha1(tag).hexdigest()}.npz"


def _compute(args: tuple[str, str]) -> str:
    audio, out = args
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy's BLAS threads thrash on a shared machine (10x slower here)
    from audiotaste.audio import load
    from audiotaste.features.rhythm import onset_bands
    from audiotaste.features.spectrum import melspectrogram, stft_power
    from audiotaste.features.tonal import key_features

    y, sr = load(audio, sr=22050)
    spec = stft_power(y, sr=sr)
    bands = onset_bands(melspectrogram(spectrum=spec))
    kf = key_features(y, sr)
    tmp = Path(out).with_suffix(".tmp.npz")
    np.savez(tmp, bands=bands, key=np.zeros((0, 12), np.float32) if kf is None else kf)
    tmp.rename(out)
    return out


def load_features(df: pd.DataFrame, cache: Path, *, workers: int = 2) -> list[dict[str, np.ndarray]]:
    """Onset bands and key features for every row of ``df`` (computing missing ones in parallel)."""
    cache.mkdir(parents=True, exist_ok=True)
    entries = [_entry(cache, p) for p in df["abspath"]]
    todo = [(p, str(e)) for p, e in zip(df["abspath"], entries, strict=True) if not e.exists()]
    if todo:
        print(f"computing features of {len(todo)} clips ({workers} workers)...", flush=True)
        with ProcessPoolExecutor(workers) as pool:
            for i, _ in enumerate(pool.map(_compute, todo, chunksize=8)):
                if (i + 1) % 200 == 0:
                    print(f"  {i + 1}/{len(todo)}", flush=True)
    out = []
    for e in entries:
        with np.load(e) as z:
            out.append({"bands": z["bands"], "key": z["key"]})
    return out
