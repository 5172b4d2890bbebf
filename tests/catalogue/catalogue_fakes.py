"""A fast stand-in analyser for batch tests (importable by worker processes via sys.path).

It decodes with soundfile and classifies failures like the real one, but computes only trivial
descriptors, so batch behaviour can be tested without the cost of real analysis.
``FAKE_ANALYZE_SLEEP`` (seconds per file) makes runs slow enough to interrupt.
"""

from __future__ import annotations

import os
import time

import numpy as np
import soundfile as sf

from audiotaste.analysis import Analysis
from audiotaste.errors import DecodeError, EmptyAudioError, InvalidSamplesError

MODEL_ID = os.environ.get("FAKE_MODEL_ID", "fake@1")


def analyze(path: str) -> Analysis:
    time.sleep(float(os.environ.get("FAKE_ANALYZE_SLEEP", "0")))
    try:
        with sf.SoundFile(path) as f:
            sr, ch = f.samplerate, f.channels
            peak, n = 0.0, 0
            for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                if not np.isfinite(block).all():
                    raise InvalidSamplesError(path, "contains NaN or infinite sample values")
                peak, n = max(peak, float(np.abs(block).max(initial=0.0))), n + len(block)
    except sf.LibsndfileError as exc:
        raise DecodeError(path, f"cannot be decoded ({exc})") from None
    if n == 0:
        raise EmptyAudioError(path, "contains no audio samples")
    return Analysis(
        path=path, duration_s=n / sr, sample_rate=sr, channels=ch, tempo_bpm=120.0,
        tempo_confidence=0.5, beat_times=(0.5, 1.0), time_signature=4, key=9, key_name="A", mode=0,
        key_confidence=0.5, loudness_lufs=float("-inf") if peak == 0 else -14.0,
        loudness_range_lu=3.0, energy=peak, danceability=0.5, brightness=0.5, onset_rate=2.0,
        dynamic_complexity=1.0, tags={"genre": {"rock": peak, "jazz": 1 - peak},
                                      "mood": {"happy": 0.25}, "instrument": {"piano": 0.75}},
        embedding=(peak, 1.0, 2.0, 3.0), model=MODEL_ID, timings={"decode": 0.001},
    )


def factory(spec: object) -> tuple[object, str]:
    return analyze, MODEL_ID


def crashing_factory(spec: object) -> tuple[object, str]:
    """Kills its own process on files named ``crash*`` (a decoder segfault, the OOM killer) and
    hangs on ``hang*`` (a decoder stuck in a loop)."""

    def run(path: str) -> Analysis:
        if os.path.basename(path).startswith("crash"):
            os._exit(139)
        if os.path.basename(path).startswith("hang"):
            time.sleep(3600)
        return analyze(path)

    return run, MODEL_ID


def broken_factory(spec: object) -> tuple[object, str]:
    from audiotaste.errors import ModelError

    raise ModelError("nosuch", "no such tagger model (installed: none)")


def vanishing_factory(spec: object) -> tuple[object, str | None]:
    """The real analyser; analysing ``a_first.wav`` deletes ``b_vanishes.wav`` (a file that vanishes
    between the walk and its turn)."""
    from audiotaste.catalogue import AnalyzerSpec

    real, model_id = AnalyzerSpec(tags=False).build()

    def run(path: str) -> Analysis:
        if os.path.basename(path) == "a_first.wav":
            os.remove(os.path.join(os.path.dirname(path), "b_vanishes.wav"))
        return real(path)

    return run, model_id
