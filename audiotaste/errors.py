"""One exception hierarchy for the whole toolkit.

Every error raised for a *user's* input names the offending file (or object) and the reason, so a CLI
or a batch job can print it without a traceback and record it. ``kind`` is a short, stable slug used
as the error category in the catalogue's ``failures`` table and in summaries.
"""

from __future__ import annotations

import os


class AudiotasteError(Exception):
    """Base class of every expected failure in audiotaste.

    Parameters
    ----------
    path
        The file or object the failure is about (``None`` when not about a file).
    reason
        A sentence a user understands, without the path.
    """

    kind: str = "error"

    def __init__(self, path: str | os.PathLike[str] | None, reason: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path is not None else reason)


# --- audio input -------------------------------------------------------------------------------
class AudioError(AudiotasteError):
    """A file could not be turned into samples."""

    kind = "audio"


class AudioNotFoundError(AudioError):
    """Missing file, broken symlink, or a directory where a file was expected."""

    kind = "not_found"


class SymlinkLoopError(AudioNotFoundError):
    """A symbolic link that leads back to itself: the path names no file, and never will."""

    kind = "symlink_loop"


class AudioPermissionError(AudioError):
    kind = "permission"


class UnsupportedFormatError(AudioError):
    """Not audio, or a container no installed decoder reads."""

    kind = "unsupported_format"


class DecodeError(AudioError):
    """Audio that starts as a known format but is truncated or corrupt."""

    kind = "decode"


class EmptyAudioError(AudioError):
    """Decodes to no samples (or too few to analyse)."""

    kind = "empty"


class InvalidSamplesError(AudioError):
    """NaN or infinite sample values."""

    kind = "invalid_samples"


class MissingDecoderError(AudioError):
    """A format that needs an external tool (ffmpeg) which is not installed."""

    kind = "missing_decoder"


# --- other inputs ------------------------------------------------------------------------------
class InputError(AudiotasteError):
    """Malformed tabular / JSON input (events, manifests, track frames)."""

    kind = "input"


class ModelError(AudiotasteError):
    """A model that is missing, corrupt, or does not match its model card / front end."""

    kind = "model"
