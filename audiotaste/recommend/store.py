"""A fitted recommender on disk: ``config.json``, ``arrays.npz`` (no pickle) and its ANN index.

Every file is written atomically (:mod:`audiotaste._io`), config last, so a killed save leaves a
folder that either loads as the old model's files or fails to load with a named reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from audiotaste._io import atomic_path, atomic_write_text
from audiotaste.errors import ModelError
from audiotaste.recommend.ann import IVFIndex
from audiotaste.recommend.blend import Blend
from audiotaste.recommend.content import ContentSpace
from audiotaste.recommend.events import EventReport

T = TypeVar("T")

FORMAT = "audiotaste.recommender/1"
#: Sparse users x tracks matrices, stored as their CSR parts.
SPARSE = ("evidence_", "plays_")
#: Dense fitted arrays of a Recommender.
ARRAYS = (
    "track_ids_",
    "user_ids_",
    "X_",
    "duration_s_",
    "artist_",
    "title_",
    "path_",
    "artist_code_",
    "tag_names_",
    "tags_",
    "tag_mean_",
    "user_factors_",
    "item_cf_",
    "item_factors_",
    "projection_",
    "listens_",
    "artist_listens_",
    "taste_",
    "Xw_",
    "bias_",
    "kind_",
)

#: Arrays added after the first saved format, with what a model saved before them gets.
OPTIONAL_ARRAYS = {
    "path_": lambda n: np.full(n, "", dtype=str),
    # models saved before the learned blend: the fixed blend's content weight and no bias
    "Xw_": lambda n: None,
    "bias_": lambda n: np.zeros(n, np.float32),
    "kind_": lambda n: np.zeros(n, np.int8),
}


def write_model(
    path: str | os.PathLike[str], meta: dict[str, Any], arrays: dict[str, Any], index: Any
) -> None:
    """Write ``meta`` (JSON-able), ``arrays`` (numpy arrays and CSR matrices) and ``index``."""
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    flat: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if sp.issparse(value):
            m = sp.csr_matrix(value)
            flat |= {f"{name}data": m.data, f"{name}indices": m.indices, f"{name}indptr": m.indptr}
        else:
            flat[name] = np.asarray(value)
    with atomic_path(d / "arrays.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **flat)  # type: ignore[arg-type]
    # The ANN index of a large catalogue takes minutes to build: keep it when there is one.
    (d / "index.voyager").unlink(missing_ok=True)
    (d / "index.npz").unlink(missing_ok=True)
    if isinstance(index, IVFIndex):
        index.save(d / "index.npz")
    elif index is not None:
        with atomic_path(d / "index.voyager") as tmp:
            index.save(str(tmp))
    atomic_write_text(d / "config.json", json.dumps({"format": FORMAT, **meta}, indent=1))


def read_model(
    path: str | os.PathLike[str], names: tuple[str, ...], optional: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """``(meta, arrays, index)`` as :func:`write_model` wrote them.

    ``names`` are the dense arrays to read; a name in ``optional`` that the file lacks (a model
    saved before it existed) gets ``optional[name](n_tracks)``. Sparse matrices come back as CSR.

    Raises
    ------
    ModelError
        Not a saved recommender, or a file is missing or damaged (named).
    """
    d = Path(path)
    try:
        meta = json.loads((d / "config.json").read_text())
        npz = np.load(d / "arrays.npz", allow_pickle=False)
        n_tracks = len(npz["track_ids_"])
        arrays: dict[str, Any] = {}
        for name in names:
            if name in optional and name not in npz:
                arrays[name] = optional[name](n_tracks)
            else:
                arrays[name] = npz[name]
        shape = (len(arrays["user_ids_"]), n_tracks)
        for name in SPARSE:
            parts = (npz[f"{name}data"], npz[f"{name}indices"], npz[f"{name}indptr"])
            arrays[name] = sp.csr_matrix(parts, shape=shape)
        index: Any = None
        if (d / "index.npz").is_file():
            index = IVFIndex.load(d / "index.npz")
        elif (d / "index.voyager").is_file():
            from voyager import Index

            index = Index.load(str(d / "index.voyager"))
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelError(d, f"not a saved Recommender ({exc.__class__.__name__}: {exc})") from None
    return meta, arrays, index


def save_model(rec: Any, path: str | os.PathLike[str]) -> None:
    """Write a fitted recommender's parameters, content space and arrays to the folder ``path``."""
    meta = {
        "params": rec.get_params(),
        "content": rec.content_.to_dict(),
        "ref_time": rec.ref_time_.isoformat(),
        "fit_report": rec.fit_report_.to_dict(),
        "blend": None if rec.blend_ is None else rec.blend_.to_dict(),
        "blend_report": rec.blend_report_,
        "score_offset": rec.score_offset_,
        "kind_share": rec.kind_share_.tolist(),
    }
    arrays = {name: getattr(rec, name) for name in (*ARRAYS, *SPARSE)}
    write_model(path, meta, arrays, rec._index)


def load_model(cls: type[T], path: str | os.PathLike[str]) -> T:
    """An instance of ``cls`` (a Recommender class) with the state :func:`save` wrote."""
    meta, arrays, index = read_model(path, ARRAYS, OPTIONAL_ARRAYS)
    try:
        rec = cls(**meta["params"])
        state: dict[str, Any] = {
            "content_": ContentSpace.from_dict(meta["content"]),
            "ref_time_": pd.Timestamp(meta["ref_time"]),
            "fit_report_": EventReport(**meta["fit_report"]),
            "blend_": None if meta.get("blend") is None else Blend.from_dict(meta["blend"]),
            "blend_report_": meta.get("blend_report", {"blend": "fixed"}),
            "score_offset_": float(meta.get("score_offset", 0.0)),
            "kind_share_": np.asarray(meta.get("kind_share", [1.0, 1.0, 1.0]), float),
        }
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelError(
            path, f"not a saved Recommender ({exc.__class__.__name__}: {exc})"
        ) from None
    for name, value in (state | arrays).items():
        setattr(rec, name, value)
    if arrays["Xw_"] is None:
        rec.Xw_ = (rec.content_weight * rec.X_).astype(np.float32)  # type: ignore[attr-defined]
    rec._index = index  # type: ignore[attr-defined]
    return rec
