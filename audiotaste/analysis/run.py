"""``analyze``: one call from a file (or samples) to every descriptor and tag audiotaste knows.

The signal is decoded once, block by block; the main analysis runs on segments of at most
:data:`SEGMENT_S` at :data:`~audiotaste.constants.ANALYSIS_SR`, extra taggers listen along
(:mod:`.extras`), and the segments' estimates are combined by a duration- and confidence-weighted vote.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from audiotaste.constants import ANALYSIS_SR
from audiotaste.errors import EmptyAudioError

from .affect import AffectListener, with_affect, with_tag_confidence, with_tag_head
from .extras import ExtraListeners
from .models import load_extras, load_tagger
from .schema import Analysis
from .source import open_source

if TYPE_CHECKING:
    from audiotaste.features.loudness import LoudnessMeter
    from audiotaste.tagger import Tagger

__all__ = ["MIN_ANALYSIS_S", "SEGMENT_S", "SILENT_LUFS", "analyze"]

#: Longer signals are analysed in segments of this length so memory stays bounded (a 2-hour file
#: never holds more than one segment's spectrum); results are combined by a duration- and
#: confidence-weighted vote. 120 s keeps a worker's peak near 400 MB (240 s: ~490 MB).
SEGMENT_S = 120.0
#: Signals shorter than this cannot carry a tempo or a key; descriptors are still reported.
MIN_ANALYSIS_S = 0.05


@dataclass(frozen=True)
class _Segment:
    duration_s: float
    tempo: Any  # features.rhythm.TempoEstimate
    key: Any  # features.tonal.KeyEstimate
    brightness: float
    tag_sums: dict[str, dict[str, float]]
    tag_weight: float
    embedding_sum: Any  # np.ndarray | None


def analyze(
    source: str | os.PathLike[str] | tuple[np.ndarray, int],
    *,
    tags: bool = True,
    model: str | None = None,
    extra_models: Sequence[str] = (),
) -> Analysis:
    """Measure tempo, key, loudness, descriptors and (optionally) tags of one recording.

    Parameters
    ----------
    source : path-like or (np.ndarray, int)
        An audio file, or ``(samples, sample_rate)`` with samples ``[n]`` or ``[channels, n]``.
    tags : bool
        Run the main tagger, which must load (the shipped default included): a missing or
        corrupt model is a ``ModelError``, never a result quietly without tags.
    model : str, optional
        Main tagger name or model folder (default: the shipped ``"default"``).
    extra_models : sequence of str
        More taggers whose taxonomies are *added* to ``tags``, e.g. ``("musicnn-msd",)``
        (:data:`REAL_WORLD_MODEL`) for musicnn's 50 real-world tags under ``"tag"`` next to our
        ``"genre"`` and ``"mood"``. They listen to the same decoded blocks through their own front end
        (musicnn: 16 kHz, bounded memory), and give the same numbers as their own ``predict_file``.
        Each must load (``ModelError`` otherwise, saying how to fetch it), and no two models may
        produce the same taxonomy. Cost: musicnn takes about 3.4 times the CPU of everything else
        together (~70x real time on one core against 200-300x for the rest of a 3-min file; see
        ``docs/BENCHMARKS.md``, "both taxonomies"), so it is opt-in.

    Returns
    -------
    Analysis

    Raises
    ------
    AudioError
        The file cannot be decoded (the message names the file and the reason).
    ModelError
        The main model (``model``, else the default) or one of ``extra_models`` cannot be loaded,
        or two models produce one taxonomy.
    """
    import soxr

    from audiotaste.audio import downmix
    from audiotaste.features.loudness import LoudnessMeter

    started = time.perf_counter()
    timings: dict[str, float] = {"decode": 0.0, "features": 0.0, "tags": 0.0}
    tagger = load_tagger(model) if tags else None
    extras = load_extras(tagger, extra_models)
    path, native_sr, channels, blocks = open_source(source)
    listeners = ExtraListeners(extras, native_sr, channels) if extras else None
    if listeners is not None:
        timings["extra_tags"] = 0.0
    meter = LoudnessMeter(native_sr, channels)
    affect = AffectListener(enabled=tags, sr=ANALYSIS_SR)
    resampler = (
        None if native_sr == ANALYSIS_SR
        else soxr.ResampleStream(native_sr, ANALYSIS_SR, 1, dtype="float32", quality="HQ")
    )
    segment_len = int(SEGMENT_S * ANALYSIS_SR)
    # One preallocated segment buffer: no concatenation copies of long signals.
    buffer = np.empty(segment_len, np.float32)
    filled = 0
    segments: list[_Segment] = []
    total_native = 0
    iterator = iter(blocks)
    while True:
        t0 = time.perf_counter()
        block = next(iterator, None)
        timings["decode"] += time.perf_counter() - t0
        last = block is None
        if listeners is not None:
            t0 = time.perf_counter()
            listeners.add(block)
            timings["extra_tags"] += time.perf_counter() - t0
        if block is not None:
            total_native += block.shape[1]
            meter.add(block)
            mono = downmix(block)
        else:
            mono = np.zeros(0, np.float32)
        if resampler is not None:
            mono = resampler.resample_chunk(mono, last=last)
        while mono.size:
            take = min(mono.size, segment_len - filled)
            buffer[filled : filled + take] = mono[:take]
            filled += take
            mono = mono[take:]
            if filled == segment_len:
                segments.append(_analyse_segment(buffer, tagger, timings))
                affect.add(buffer)
                filled = 0
        if last:
            if filled or not segments:
                segments.append(_analyse_segment(buffer[:filled], tagger, timings))
                affect.add(buffer[:filled])
            break
    if total_native == 0:
        raise EmptyAudioError(path, "contains no audio samples")
    extra_tags: dict[str, dict[str, float]] = {}
    extra_ids: dict[str, str] = {}
    if listeners is not None:
        t0 = time.perf_counter()
        extra_tags, extra_ids = listeners.finish()
        timings["extra_tags"] += time.perf_counter() - t0
    timings["affect"] = affect.seconds
    result = _combine(path, native_sr, channels, total_native / native_sr, segments, meter, tagger, timings, started)
    # extra models' tags stay their own numbers (identical to their predict_file), short or not
    result = with_tag_confidence(with_tag_head(with_affect(result, affect), affect))
    if not extras:
        return result
    return replace(result, tags={**result.tags, **extra_tags}, tag_models={**result.tag_models, **extra_ids})


def _analyse_segment(y: np.ndarray, tagger: Tagger | None, timings: dict[str, float]) -> _Segment:
    from audiotaste.features import descriptors, rhythm, tonal
    from audiotaste.features.spectrum import melspectrogram, stft_power

    t0 = time.perf_counter()
    spectrum = stft_power(y)
    mel_db = melspectrogram(spectrum=spectrum)
    if y.size >= MIN_ANALYSIS_S * ANALYSIS_SR:
        tempo_est = rhythm.tempo(y, spectrum=spectrum, mel_db=mel_db)
        key_est = tonal.key(y, spectrum=spectrum, mel_db=mel_db)
    else:
        short = f"too short ({y.size / ANALYSIS_SR:.2f} s)"
        tempo_est, key_est = rhythm.TempoEstimate.none(short), tonal.KeyEstimate.none(short)
    bright = descriptors.brightness(spectrum)
    t1 = time.perf_counter()
    timings["features"] += t1 - t0
    tag_sums: dict[str, dict[str, float]] = {}
    weight = 0.0
    embedding_sum = None
    if tagger is not None:
        out = tagger.predict_segment(y, spectrum, mel_db)
        weight = float(max(1, len(out.patch_times)))
        tag_sums = {tax: {k: float(v) * weight for k, v in probs.items()} for tax, probs in out.tags.items()}
        embedding_sum = np.asarray(out.embedding, dtype=np.float64) * weight
    timings["tags"] += time.perf_counter() - t1
    return _Segment(y.size / ANALYSIS_SR, tempo_est, key_est, bright, tag_sums, weight, embedding_sum)


def _vote(segments: list[_Segment], agree: Any, confidence: Any, measured: Any) -> _Segment:
    """The segment whose estimate the most duration × confidence agrees with (itself included).

    Averaging the BPMs or keys of different sections would describe none of them; a vote lets a
    track's main tempo and key win over an intro or a bridge. Only segments where ``measured`` holds
    vote (a silent intro or a 1-s tail has no say); with none, the longest segment (and its reason).
    """
    voters = [s for s in segments if measured(s)]
    if not voters:
        return max(segments, key=lambda s: s.duration_s)

    def support(candidate: _Segment) -> float:
        return sum(s.duration_s * (confidence(s) + 1e-6) for s in voters if agree(candidate, s))

    return max(voters, key=support)


#: Integrated loudness (LUFS) under which a recording is silent: BS.1770's absolute gate. Its tags
#: would be the tagger's guess about nothing, so none are published.
SILENT_LUFS = -70.0


def _combine(
    path: str | None, sr: int, channels: int, duration_s: float, segments: list[_Segment],
    meter: LoudnessMeter, tagger: Tagger | None, timings: dict[str, float], started: float,
) -> Analysis:
    from audiotaste.features import descriptors, rhythm

    t0 = time.perf_counter()
    best_tempo = _vote(segments, lambda a, b: abs(a.tempo.bpm - b.tempo.bpm) <= 0.04 * a.tempo.bpm,
                       lambda s: s.tempo.confidence, lambda s: s.tempo.bpm is not None)
    best_key = _vote(segments, lambda a, b: (a.key.key, a.key.mode) == (b.key.key, b.key.mode),
                     lambda s: s.key.confidence, lambda s: s.key.key is not None)
    tempo_est, key_est = best_tempo.tempo, best_key.key
    total = sum(s.duration_s for s in segments) or 1.0
    beats: list[float] = []
    offset = 0.0
    for s in segments:
        placed = s.tempo if tempo_est.bpm is None else rhythm.at_tempo(s.tempo, tempo_est.bpm)
        beats.extend(offset + t for t in placed.beat_times)
        offset += s.duration_s
    onset_rate = sum(s.tempo.onset_rate * s.duration_s for s in segments) / total
    bright = sum(s.brightness * s.duration_s for s in segments) / total
    lufs = meter.integrated_lufs()
    notes = [f"tempo: {tempo_est.reason}" if tempo_est.bpm is None else "",
             f"key: {key_est.reason}" if key_est.key is None else ""]
    silent = not lufs > SILENT_LUFS  # -inf for digital silence
    if tagger is not None and silent:
        notes.append(f"tags: none published, the recording is silent (under {SILENT_LUFS:.0f} LUFS)")
    tags_out: dict[str, dict[str, float]] = {}
    embedding: tuple[float, ...] = ()
    weight = sum(s.tag_weight for s in segments)
    if tagger is not None and weight > 0 and not silent:
        for s in segments:
            for tax, probs in s.tag_sums.items():
                acc = tags_out.setdefault(tax, {})
                for k, v in probs.items():
                    acc[k] = acc.get(k, 0.0) + v
        tags_out = {tax: {k: v / weight for k, v in probs.items()} for tax, probs in tags_out.items()}
        # e.g. mood re-weighed with the key's mode, where the model has a track head
        tags_out = tagger.apply_track_head(
            tags_out, mode=1 if key_est.mode is None else key_est.mode, key_confidence=key_est.confidence,
            key=-1 if key_est.key is None else key_est.key)
        emb = sum(s.embedding_sum for s in segments if s.embedding_sum is not None)
        embedding = tuple(float(x) for x in np.asarray(emb) / weight)
    timings["features"] += time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    return Analysis(
        path=path,
        duration_s=float(duration_s),
        sample_rate=int(sr),
        channels=int(channels),
        tempo_bpm=None if tempo_est.bpm is None else float(tempo_est.bpm),
        tempo_confidence=float(tempo_est.confidence),
        beat_times=tuple(float(t) for t in beats),
        time_signature=None if tempo_est.time_signature is None else int(tempo_est.time_signature),
        key=None if key_est.key is None else int(key_est.key),
        key_name=key_est.key_name,
        mode=None if key_est.mode is None else int(key_est.mode),
        key_confidence=float(key_est.confidence),
        loudness_lufs=float(lufs),
        loudness_range_lu=meter.loudness_range_lu(),
        energy=descriptors.energy(loudness_lufs=lufs, brightness=bright, onset_rate=onset_rate),
        danceability=descriptors.danceability(
            tempo_bpm=0.0 if tempo_est.bpm is None else tempo_est.bpm, tempo_confidence=tempo_est.confidence,
            beat_times=best_tempo.tempo.beat_times,
        ),
        brightness=float(bright),
        onset_rate=float(onset_rate),
        dynamic_complexity=meter.dynamic_complexity(),
        tags=tags_out,
        embedding=embedding,
        model=None if tagger is None else f"{tagger.name}@{tagger.version}",
        timings={k: round(v, 4) for k, v in timings.items()},
        tag_models=(dict.fromkeys(tags_out, f"{tagger.name}@{tagger.version}")
                    if tagger is not None else {}),
        notes="; ".join(n for n in notes if n) or None,
    )
