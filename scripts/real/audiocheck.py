"""Is a blob real audio? Catch the placeholders snapshots hold instead of audio, then decode.

Reasons (the manifest builder's count keys): ``blob_missing`` (the snapshot lacks it),
``blob_empty`` (a 0-byte placeholder), ``blob_lfs_pointer`` (a Git LFS pointer, content absent),
``audio_undecodable`` (soundfile cannot read its first seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = [
    "AUDIO_SUFFIXES",
    "TRACKER_SUFFIXES",
    "AudioInfo",
    "AudioProblem",
    "blob_problem",
    "probe",
]

AUDIO_SUFFIXES = (".ogg", ".oga", ".mp3", ".flac", ".wav", ".opus")
#: Tracker modules are note lists played by a synthesiser: not recordings, so never used.
TRACKER_SUFFIXES = (".mod", ".xm", ".it", ".s3m")
LFS_MAGIC = b"version https://git-lfs.github.com/spec/"
#: Seconds decoded to prove a file is audio (a header alone can look fine on a truncated file).
PROBE_S = 3.0


class AudioProblem(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    samplerate: int
    channels: int
    artist: str = ""
    title: str = ""


def blob_problem(data: bytes | None) -> str | None:
    """The reason a blob is no audio file at all, or None if it may be one."""
    if data is None:
        return "blob_missing"
    if len(data) == 0:
        return "blob_empty"
    if data.startswith(LFS_MAGIC):
        return "blob_lfs_pointer"
    return None


def probe(path: str | Path) -> AudioInfo:
    """Duration (s) and format of an audio file, after decoding its first ``PROBE_S`` seconds.

    Raises :class:`AudioProblem` (``audio_undecodable``) naming the file and soundfile's reason.
    """
    try:
        with sf.SoundFile(str(path)) as handle:
            samplerate, channels, frames = handle.samplerate, handle.channels, handle.frames
            block = handle.read(int(PROBE_S * samplerate), dtype="float32", always_2d=True)
            tags = handle.copy_metadata()
    except (RuntimeError, sf.LibsndfileError, ValueError, OSError) as error:
        raise AudioProblem("audio_undecodable", f"{path}: {error}") from None
    if samplerate <= 0 or frames <= 0 or block.shape[0] == 0:
        raise AudioProblem("audio_undecodable", f"{path}: no audio frames")
    if not np.all(np.isfinite(block)):
        raise AudioProblem("audio_undecodable", f"{path}: non-finite samples")
    return AudioInfo(
        duration_s=frames / samplerate,
        samplerate=samplerate,
        channels=channels,
        artist=str(tags.get("artist", "")).strip(),
        title=str(tags.get("title", "")).strip(),
    )
