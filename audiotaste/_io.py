"""Atomic file writes: the one way audiotaste replaces a file.

A reader (or a process killed with ``kill -9`` half-way through a write) sees either the old file or
the new one, never a mixture: the data goes to a temporary file in the same folder, is flushed and
fsynced, then renamed over the target; the folder is fsynced after the rename so the rename itself
survives a power cut. Every module that writes a file users keep (models, catalogue exports, the
discovery state, the report) goes through here.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]

#: mkstemp makes 0600 files; what we write is meant to be read by everyone who can read the folder.
FILE_MODE = 0o644


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems (and Windows) cannot open a folder: the rename still happened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, mode: int = FILE_MODE) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it replaces ``path`` atomically.

    For writers that want a file name rather than a file object (``safetensors.save_file``,
    ``pyarrow.parquet.write_table``, matplotlib's ``savefig``). On an exception the temporary file
    is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        The file to create or replace. Its folder is created if missing.
    mode : int, keyword-only
        Permission bits of the new file.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # the writer may not have synced: make the bytes durable first
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(folder)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_path(path, mode=mode) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int = FILE_MODE) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def atomic_write_json(
    path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2, mode: int = FILE_MODE
) -> None:
    """Write ``obj`` as JSON (UTF-8, keys in insertion order, trailing newline) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n", mode=mode)
