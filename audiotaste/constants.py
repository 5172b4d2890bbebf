"""Constants every stage shares, defined once (the bottom stage: imports nothing of audiotaste)."""

from __future__ import annotations

__all__ = ["ANALYSIS_SR", "KEY_NAMES"]

#: Sample rate of the analysis front end (features, our tagger, ``analyze``'s segments), Hz.
ANALYSIS_SR = 22050

#: Pitch classes spelled with sharps, C = 0: the ``key_name`` of key ``k`` is ``KEY_NAMES[k]``.
KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
