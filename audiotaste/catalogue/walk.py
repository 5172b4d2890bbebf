"""Finding the files to tag, and the content id that names a track.

The walk follows symbolic links (a label's drop folder is often a farm of links) but never enters a
directory twice, so link loops end. Inside folders it takes files with an audio extension and skips
hidden names (``.DS_Store``, the ``._song.mp3`` AppleDouble shadows macOS leaves on shared drives);
a path given explicitly is always taken. Problems are yielded as ``WalkFailure`` items rather than
raised, so one bad entry never stops a batch.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from audiotaste.errors import (
    AudioError,
    AudioNotFoundError,
    AudioPermissionError,
    AudiotasteError,
    EmptyAudioError,
    SymlinkLoopError,
    UnsupportedFormatError,
)

#: Extensions taken when walking folders (explicit file arguments are taken whatever their name).
AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64",
    ".m4a", ".mp4", ".aac", ".wma", ".webm", ".mka", ".ac3",
})

_HASH_CHUNK = 1 << 20  # bytes; large enough to hash at disk speed, small enough for memory


class FileChangedError(AudioError):
    """The file changed while it was being read (an upload still in progress)."""

    kind = "changing"


@dataclass(frozen=True)
class WalkFile:
    """A regular file to consider: ``path`` as given/joined, ``size`` in bytes, ``mtime_ns``."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class WalkFailure:
    """A path the walk could not use, with the error that says why."""

    path: str
    error: AudiotasteError


def track_id_of(path: str | os.PathLike[str]) -> str:
    """Content id of a file: the first 16 hex characters of the SHA-256 of its bytes.

    The id is stable under renames and copies, so the same recording found at two paths is one
    track.

    Raises
    ------
    AudiotasteError
        ``AudioNotFoundError`` (missing, vanished, a directory), ``AudioPermissionError``.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise os_error(os.fspath(path), exc) from None
    return digest.hexdigest()[:16]


def os_error(path: str, exc: OSError) -> AudiotasteError:
    """Turn an ``OSError`` about ``path`` into the matching ``AudiotasteError``."""
    code = exc.errno
    if code == errno.ELOOP:
        return SymlinkLoopError(path, "symbolic link loop")
    if code == errno.ENOENT:
        if os.path.islink(path):
            return AudioNotFoundError(path, "broken symbolic link (its target does not exist)")
        return AudioNotFoundError(path, "no such file (it may have been moved or deleted)")
    if code in (errno.EACCES, errno.EPERM):
        return AudioPermissionError(path, "permission denied (no read access)")
    if code == errno.EISDIR:
        return AudioNotFoundError(path, "is a directory, not an audio file")
    return AudioNotFoundError(path, f"cannot be read ({exc.strerror or exc})")


def walk(inputs: Iterable[str | os.PathLike[str]], *,
         extensions: frozenset[str] = AUDIO_EXTENSIONS) -> Iterator[WalkFile | WalkFailure]:
    """Yield every file to tag under ``inputs`` (files or folders, recursively), in sorted order.

    Parameters
    ----------
    inputs
        Files and folders. Files are taken whatever their extension. Yielded paths are absolute.
    extensions
        Lower-case extensions (with the dot) taken inside folders.

    Yields
    ------
    WalkFile or WalkFailure
        One per file found, or per entry that cannot be used (broken link, link loop, unreadable
        folder, an audio-named entry that is not a regular file, a missing input).
    """
    seen_dirs: set[tuple[int, int]] = set()
    for item in inputs:
        # Absolute (links not resolved): the same file is the same key from any working directory.
        path = os.path.abspath(os.fspath(item))
        try:
            st = os.stat(path)
        except OSError as exc:
            yield WalkFailure(path, os_error(path, exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(path, st, seen_dirs, extensions)
        else:
            yield _classify(path, st)


def _classify(path: str, st: os.stat_result) -> WalkFile | WalkFailure:
    if not stat.S_ISREG(st.st_mode):
        return WalkFailure(path, UnsupportedFormatError(path, "is not a regular file"))
    if st.st_size == 0:
        return WalkFailure(path, EmptyAudioError(path, "file is empty (0 bytes)"))
    return WalkFile(path, st.st_size, st.st_mtime_ns)


def _walk_dir(root: str, st: os.stat_result, seen: set[tuple[int, int]],
              extensions: frozenset[str]) -> Iterator[WalkFile | WalkFailure]:
    stack = [(root, st)]
    while stack:
        folder, fst = stack.pop()
        ident = (fst.st_dev, fst.st_ino)
        if ident in seen:  # a link back to a folder already walked (or a loop): nothing new there
            continue
        seen.add(ident)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield WalkFailure(folder, os_error(folder, exc))
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            wanted = os.path.splitext(entry.name)[1].lower() in extensions
            try:
                est = entry.stat()  # follows links
            except OSError as exc:
                if wanted:
                    yield WalkFailure(entry.path, os_error(entry.path, exc))
                continue
            if stat.S_ISDIR(est.st_mode):
                subdirs.append((entry.path, est))
            elif wanted:
                yield _classify(entry.path, est)
        stack.extend(reversed(subdirs))  # pop() then visits them in sorted order
