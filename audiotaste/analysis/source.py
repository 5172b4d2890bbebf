"""Decoded audio as blocks ``[channels, n]`` at the source rate, from a file or an array."""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from audiotaste.errors import InputError, InvalidSamplesError


def open_source(
    source: str | os.PathLike[str] | tuple[np.ndarray, int],
) -> tuple[str | None, int, int, Iterable[np.ndarray]]:
    if isinstance(source, tuple):
        samples, sr = source
        y = np.asarray(samples, dtype=np.float32)
        if y.ndim == 1:
            y = y[None, :]
        if y.ndim != 2 or y.shape[0] > 64 or not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise InputError(None, "expected (samples [n] or [channels, n], sample_rate in Hz)")
        if y.size and not np.isfinite(y).all():
            raise InvalidSamplesError(None, "samples contain NaN or infinite values")
        step = 1 << 16
        return None, int(sr), y.shape[0], (y[:, i : i + step] for i in range(0, y.shape[1], step))
    from audiotaste.audio import stream

    meta, blocks = stream(source, sr=None)
    return os.fspath(source), meta.sample_rate, meta.channels, blocks


