"""Decoding audio files (stage 1 of the flow: audio → features → tagger → catalogue → recommend)."""

from audiotaste.audio.decode import (
    AUDIO_EXTENSIONS,
    AudioInfo,
    check_readable,
    downmix,
    info,
    load,
    stream,
)
from audiotaste.errors import (
    AudioError,
    AudioNotFoundError,
    AudioPermissionError,
    DecodeError,
    EmptyAudioError,
    InvalidSamplesError,
    MissingDecoderError,
    UnsupportedFormatError,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioError",
    "AudioInfo",
    "AudioNotFoundError",
    "AudioPermissionError",
    "DecodeError",
    "EmptyAudioError",
    "InvalidSamplesError",
    "MissingDecoderError",
    "UnsupportedFormatError",
    "check_readable",
    "downmix",
    "info",
    "load",
    "stream",
]
