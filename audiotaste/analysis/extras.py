"""Extra taggers listening along: each hears the decoded blocks at its own sample rate.

:func:`extra_tags` runs only them (the catalogue adds real-world tags to tracks analysed before).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from audiotaste.errors import EmptyAudioError

from .models import load_extras
from .schema import ExtraTags
from .source import open_source

if TYPE_CHECKING:
    from audiotaste.tagger import Tagger

__all__ = ["extra_tags"]

def extra_tags(
    source: str | os.PathLike[str] | tuple[np.ndarray, int], models: Sequence[str],
) -> ExtraTags:
    """Only the taxonomies of ``models``, the same numbers ``analyze(source, extra_models=models)``
    gives, without the descriptors and the main tagger.

    The catalogue uses it to add real-world tags to tracks analysed before (``audiotaste tag
    --real-world`` on an existing catalogue) without redoing the rest.

    Raises
    ------
    AudioError, ModelError
        As :func:`analyze`.
    """
    started = time.perf_counter()
    extras = load_extras(None, models)
    path, native_sr, channels, blocks = open_source(source)
    if not extras:
        return ExtraTags({}, {}, {})
    listeners = ExtraListeners(extras, native_sr, channels)
    decode = 0.0
    total = 0
    iterator = iter(blocks)
    while True:
        t0 = time.perf_counter()
        block = next(iterator, None)
        decode += time.perf_counter() - t0
        listeners.add(block)
        if block is None:
            break
        total += block.shape[1]
    if total == 0:
        raise EmptyAudioError(path, "contains no audio samples")
    tags_out, ids = listeners.finish()
    spent = time.perf_counter() - started
    return ExtraTags(tags_out, ids, {"decode": round(decode, 4),
                                     "extra_tags": round(spent - decode, 4)})


class ExtraListeners:
    """Feeds each decoded block to the extra taggers at their own sample rate.

    Each rate gets one multichannel soxr stream from the source rate, and the channels are averaged
    after resampling: exactly what ``audio.load(path, sr=..., mono=True)`` does, so an extra tagger
    sees the samples its own ``predict_file`` would.
    """

    def __init__(self, taggers: list[Tagger], native_sr: int, channels: int) -> None:
        import soxr

        self.channels = channels
        self.taggers = taggers
        self.streams = [t.stream() for t in taggers]
        self.rates = [t.sr for t in taggers]
        self.resamplers = {
            sr: None if sr == native_sr
            else soxr.ResampleStream(native_sr, sr, channels, dtype="float32", quality="HQ")
            for sr in dict.fromkeys(self.rates)
        }

    def add(self, block: np.ndarray | None) -> None:
        """Feed a block ``[channels, n]`` at the source rate; ``None`` ends the signal."""
        from audiotaste.audio import downmix

        for sr, res in self.resamplers.items():
            if res is None:
                if block is None:
                    continue
                y = block
            else:
                chunk = (np.zeros((0, self.channels), np.float32) if block is None
                         else np.ascontiguousarray(block.T))
                y = np.ascontiguousarray(res.resample_chunk(chunk, last=block is None).T)
            if not y.shape[1]:
                continue
            mono = downmix(y)
            for rate, stream in zip(self.rates, self.streams, strict=True):
                if rate == sr:
                    stream.add(mono)

    def finish(self) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
        tags_out: dict[str, dict[str, float]] = {}
        ids: dict[str, str] = {}
        for tagger, stream in zip(self.taggers, self.streams, strict=True):
            out = stream.finish()
            for taxonomy, probs in out.tags.items():
                tags_out[taxonomy] = {k: float(v) for k, v in probs.items()}
                ids[taxonomy] = f"{tagger.name}@{tagger.version}"
        return tags_out, ids


