"""``analyze``: one call from a file (or samples) to every descriptor and tag audiotaste knows.

Sits between the tagger and the catalogue in the one-way flow: it uses ``audio``, ``features`` and
(optionally) ``tagger``; ``catalogue`` and everything above use it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from audiotaste.errors import EmptyAudioError, InputError, InvalidSamplesError, ModelError

if TYPE_CHECKING:
    from audiotaste.features.loudness import LoudnessMeter

# The signal-processing stack (torch, soxr) is imported inside the functions that use it, so that
# code which only needs ``Analysis`` (the catalogue's writer, exporters) starts without torch.
ANALYSIS_SR = 22050  # Hz; equals features.spectrum.ANALYSIS_SR (checked in tests)

KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

#: Descriptor fields, in the order they appear in ``to_dict()`` and as catalogue columns.
DESCRIPTOR_FIELDS = (
    "duration_s",
    "sample_rate",
    "channels",
    "tempo_bpm",
    "tempo_confidence",
    "time_signature",
    "key",
    "key_name",
    "mode",
    "key_confidence",
    "loudness_lufs",
    "loudness_range_lu",
    "energy",
    "danceability",
    "brightness",
    "onset_rate",
    "dynamic_complexity",
)


@dataclass(frozen=True)
class Analysis:
    """Everything ``analyze`` measured about one recording.

    Attributes
    ----------
    path : str or None
        Source file (``None`` for an in-memory array).
    duration_s : float
        Duration in seconds.
    sample_rate : int
        Sample rate of the source, Hz.
    channels : int
        Channels of the source.
    tempo_bpm : float
        Tapped-beat tempo, BPM (quarter note in simple meters, dotted quarter in 6/8 and 12/8).
    tempo_confidence : float
        0-1, how clearly one tempo dominates.
    beat_times : tuple of float
        Beat positions, seconds.
    time_signature : int
        Beats per bar (3 or 4).
    key : int
        Tonic pitch class, 0-11 with C = 0, or -1 when no key could be found (silence).
    key_name : str
        Tonic spelled with sharps (``"F#"``), ``""`` when ``key == -1``.
    mode : int
        1 major, 0 minor.
    key_confidence : float
        0-1 strength of the key estimate.
    loudness_lufs : float
        Integrated loudness per ITU-R BS.1770-4, LUFS (``-inf`` for digital silence).
    loudness_range_lu : float
        Spread of short-term loudness (EBU R128 LRA-style, 10th to 95th percentile), LU.
    energy : float
        0-1 perceived intensity (see ``features.descriptors.energy``).
    danceability : float
        0-1 beat strength and regularity (see ``features.descriptors.danceability``).
    brightness : float
        0-1 spectral centroid on a log-frequency scale.
    onset_rate : float
        Onsets per second.
    dynamic_complexity : float
        Mean absolute deviation of short-term loudness from the integrated value, LU.
    tags : mapping
        ``{"genre": {"rock": 0.91, ...}, "mood": {...}}``; empty when no tagger was used. With
        ``extra_models`` also the real-world tags, ``{"tag": {"rock": 0.12, "chillout": 0.61, ...}}``
        (musicnn's 50 tags; catalogue columns ``tag.<name>``).
    embedding : tuple of float
        The main tagger's embedding (empty when no tagger was used).
    model : str or None
        Name and version of the main tagger (the one given by ``model``).
    timings : mapping
        Seconds spent per stage (``decode``, ``features``, ``tags``, ``extra_tags``...).
    tag_models : mapping
        ``{taxonomy: "name@version"}``: which model produced each taxonomy of ``tags``.
    """

    path: str | None
    duration_s: float
    sample_rate: int
    channels: int
    tempo_bpm: float
    tempo_confidence: float
    beat_times: tuple[float, ...]
    time_signature: int
    key: int
    key_name: str
    mode: int
    key_confidence: float
    loudness_lufs: float
    loudness_range_lu: float
    energy: float
    danceability: float
    brightness: float
    onset_rate: float
    dynamic_complexity: float
    tags: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    embedding: tuple[float, ...] = ()
    model: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    tag_models: Mapping[str, str] = field(default_factory=dict)

    def descriptors(self) -> dict[str, Any]:
        """The scalar descriptors, named as the catalogue's track columns."""
        return {name: getattr(self, name) for name in DESCRIPTOR_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict: descriptors flat, tags nested under ``"tags"``.

        Non-finite floats (the loudness of digital silence) become ``None`` so that the result is
        strict JSON.
        """
        out: dict[str, Any] = {"path": self.path}
        out.update({k: _json_float(v) for k, v in self.descriptors().items()})
        out["beat_times"] = [round(t, 4) for t in self.beat_times]
        out["tags"] = {tax: {k: float(v) for k, v in probs.items()} for tax, probs in self.tags.items()}
        out["embedding"] = [float(x) for x in self.embedding]
        out["model"] = self.model
        out["tag_models"] = dict(self.tag_models)
        out["timings"] = {k: float(v) for k, v in self.timings.items()}
        return out

    def to_spotify(self) -> dict[str, Any]:
        """The Spotify Web API "audio features" names and codes, for users leaving that API.

        Only fields with an honest signal-level counterpart are filled; ``key`` is -1 when no key
        was detected, as in Spotify's API. Spotify's ``valence``, ``acousticness``,
        ``instrumentalness``, ``liveness`` and ``speechiness`` are omitted, not invented.
        """
        return {
            "danceability": round(self.danceability, 3),
            "energy": round(self.energy, 3),
            "key": self.key,
            "loudness": _json_float(round(self.loudness_lufs, 3)),
            "mode": self.mode,
            "tempo": round(self.tempo_bpm, 3),
            "time_signature": self.time_signature,
            "duration_ms": int(round(self.duration_s * 1000)),
            "type": "audio_features",
        }


def _json_float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- analyze -------------------------------------------------------------------------------------
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


#: The real-world tagger ``audiotaste analyze --real-world`` adds: musicnn trained on the Million
#: Song Dataset's Last.fm tags (genres such as rock, jazz, Hip-Hop, folk and moods such as happy, sad,
#: chill, Mellow), the closest of the two musicnn models to our genre/mood taxonomy.
REAL_WORLD_MODEL = "musicnn-msd"
#: Shipped in ``models/``: musicnn-msd pruned to a fraction of its filters and fine-tuned on its own
#: outputs over real soundtracks (``audiotaste.tagger.pruned``), the real-world tags without the fetch.
REAL_WORLD_STUDENT = "musicnn-msd-student"


def real_world_model() -> str:
    """The model behind ``--real-world``: :data:`REAL_WORLD_MODEL` once fetched (``audiotaste models
    fetch musicnn``), else the shipped student :data:`REAL_WORLD_STUDENT`, which tags the same 50
    Last.fm tags several times faster and close to the teacher (``docs/BENCHMARKS.md`` ``## distill``)."""
    from audiotaste._paths import cache_dir

    if (cache_dir() / REAL_WORLD_MODEL / "card.json").is_file():
        return REAL_WORLD_MODEL
    return REAL_WORLD_STUDENT


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
        Run the main tagger. Without an installed model the result simply has no tags (unless
        ``model`` names one explicitly, which then must load).
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
        ``model`` or one of ``extra_models`` cannot be loaded, or two models produce one taxonomy.
    """
    import soxr

    from audiotaste.audio import downmix
    from audiotaste.features.loudness import LoudnessMeter

    started = time.perf_counter()
    timings: dict[str, float] = {"decode": 0.0, "features": 0.0, "tags": 0.0}
    tagger = _load_tagger(model) if tags else None
    extras = load_extras(tagger, extra_models)
    path, native_sr, channels, blocks = _open_source(source)
    listeners = _ExtraListeners(extras, native_sr, channels) if extras else None
    if listeners is not None:
        timings["extra_tags"] = 0.0
    meter = LoudnessMeter(native_sr, channels)
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
                filled = 0
        if last:
            if filled or not segments:
                segments.append(_analyse_segment(buffer[:filled], tagger, timings))
            break
    if total_native == 0:
        raise EmptyAudioError(path, "contains no audio samples")
    extra_tags: dict[str, dict[str, float]] = {}
    extra_ids: dict[str, str] = {}
    if listeners is not None:
        t0 = time.perf_counter()
        extra_tags, extra_ids = listeners.finish()
        timings["extra_tags"] += time.perf_counter() - t0
    result = _combine(path, native_sr, channels, total_native / native_sr, segments, meter, tagger,
                      timings, started)
    if not extras:
        return result
    return replace(result, tags={**result.tags, **extra_tags},
                   tag_models={**result.tag_models, **extra_ids})


@dataclass(frozen=True)
class ExtraTags:
    """What :func:`extra_tags` measured: the extra models' taxonomies of one recording.

    Attributes
    ----------
    tags : mapping
        ``{taxonomy: {label: probability}}``, e.g. ``{"tag": {"rock": 0.12, ...}}``.
    tag_models : mapping
        ``{taxonomy: "name@version"}``.
    timings : mapping
        Seconds: ``decode`` and ``extra_tags``.
    """

    tags: Mapping[str, Mapping[str, float]]
    tag_models: Mapping[str, str]
    timings: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"tags": {tax: {k: float(v) for k, v in probs.items()} for tax, probs in self.tags.items()},
                "tag_models": dict(self.tag_models),
                "timings": {k: float(v) for k, v in self.timings.items()}}


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
    path, native_sr, channels, blocks = _open_source(source)
    if not extras:
        return ExtraTags({}, {}, {})
    listeners = _ExtraListeners(extras, native_sr, channels)
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


def load_extras(main: Any, names: Sequence[str]) -> list[Any]:
    """Load extra taggers by name (cached per process), dropping repeats of the main tagger.

    Parameters
    ----------
    main : Tagger or None
        The main tagger, whose taxonomies the extras must not produce again.
    names : sequence of str
        Model names or folders (``"musicnn-msd"``).

    Raises
    ------
    ModelError
        A model cannot be loaded (for musicnn: the message says how to fetch it), or two models
        produce the same taxonomy.
    """
    if isinstance(names, str):  # a bare string would be read as a list of one-letter names
        names = (names,)
    owner: dict[str, str] = {}
    if main is not None:
        owner = dict.fromkeys(main.labels, f"{main.name}@{main.version}")
    out: list[Any] = []
    for name in dict.fromkeys(names):
        tagger = _load_tagger(name)
        model_id = f"{tagger.name}@{tagger.version}"
        if model_id in owner.values() and set(tagger.labels) <= set(owner):
            continue  # the main tagger already is this model
        for taxonomy in tagger.labels:
            if taxonomy in owner:
                raise ModelError(name, f"its taxonomy {taxonomy!r} is also produced by "
                                       f"{owner[taxonomy]}; use one of the two")
            owner[taxonomy] = model_id
        out.append(tagger)
    return out


class _CollectingStream:
    """Fallback for a tagger without ``stream()``: keep the signal, tag it at the end."""

    def __init__(self, tagger: Any) -> None:
        self.tagger = tagger
        self.pieces: list[np.ndarray] = []

    def add(self, y: np.ndarray) -> None:
        self.pieces.append(np.asarray(y, np.float32))

    def finish(self) -> Any:
        return self.tagger.predict_audio(np.concatenate(self.pieces or [np.zeros(0, np.float32)]))


def _tagger_rate(tagger: Any) -> int:
    fe = getattr(tagger, "frontend", None)
    return int(fe.sr if fe is not None else tagger.sr)


class _ExtraListeners:
    """Feeds each decoded block to the extra taggers at their own sample rate.

    Each rate gets one multichannel soxr stream from the source rate, and the channels are averaged
    after resampling: exactly what ``audio.load(path, sr=..., mono=True)`` does, so an extra tagger
    sees the samples its own ``predict_file`` would.
    """

    def __init__(self, taggers: list[Any], native_sr: int, channels: int) -> None:
        import soxr

        self.channels = channels
        self.taggers = taggers
        self.streams = [t.stream() if hasattr(t, "stream") else _CollectingStream(t) for t in taggers]
        self.rates = [_tagger_rate(t) for t in taggers]
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


def _open_source(
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


@lru_cache(maxsize=4)
def _load_tagger(model: str | None) -> Any:
    try:
        from audiotaste.tagger import load_model
    except ImportError:
        if model is not None:
            raise ModelError(model, "no tagger is installed in this version of audiotaste") from None
        return None
    try:
        return load_model(model or "default")
    except ModelError:
        if model is not None:
            raise
        return None  # no shipped model yet: analyses simply carry no tags


def _analyse_segment(y: np.ndarray, tagger: Any, timings: dict[str, float]) -> _Segment:
    from audiotaste.features import descriptors, rhythm, tonal
    from audiotaste.features.spectrum import melspectrogram, stft_power

    t0 = time.perf_counter()
    spectrum = stft_power(y)
    mel_db = melspectrogram(spectrum=spectrum)
    if y.size >= MIN_ANALYSIS_S * ANALYSIS_SR:
        tempo_est = rhythm.tempo(y, spectrum=spectrum, mel_db=mel_db)
        key_est = tonal.key(y, spectrum=spectrum)
    else:
        tempo_est = rhythm.TempoEstimate(0.0, 0.0, (), 4, 0.0)
        key_est = tonal.KeyEstimate(-1, "", 1, 0.0)
    bright = descriptors.brightness(spectrum)
    t1 = time.perf_counter()
    timings["features"] += t1 - t0
    tag_sums: dict[str, dict[str, float]] = {}
    weight = 0.0
    embedding_sum = None
    if tagger is not None:
        # Our tagger reads the shared spectrum (and the shared log-mel when its front end is the
        # analysis one); musicnn needs its own 16 kHz front end.
        if _uses_analysis_mel(tagger):
            out = tagger.predict_mel(mel_db)
        elif hasattr(tagger, "predict_spectrum"):
            out = tagger.predict_spectrum(spectrum)
        else:
            out = tagger.predict_audio(y, sr=ANALYSIS_SR)
        weight = float(max(1, len(getattr(out, "patch_times", ())) or 1))
        tag_sums = {tax: {k: float(v) * weight for k, v in probs.items()} for tax, probs in out.tags.items()}
        embedding_sum = np.asarray(out.embedding, dtype=np.float64) * weight
    timings["tags"] += time.perf_counter() - t1
    return _Segment(y.size / ANALYSIS_SR, tempo_est, key_est, bright, tag_sums, weight, embedding_sum)


def _uses_analysis_mel(tagger: Any) -> bool:
    from audiotaste.features.spectrum import HOP_LENGTH, N_FFT, N_MELS

    fe = getattr(tagger, "frontend", None)
    return (
        fe is not None and hasattr(tagger, "predict_mel")
        and (fe.sr, fe.n_fft, fe.hop_length, fe.n_mels) == (ANALYSIS_SR, N_FFT, HOP_LENGTH, N_MELS)
        and fe.fmin == 0.0 and fe.fmax in (None, ANALYSIS_SR / 2) and fe.top_db == 80.0
    )


def _vote(segments: list[_Segment], agree: Any, confidence: Any) -> _Segment:
    """The segment whose estimate the most duration × confidence agrees with (itself included).

    Averaging the BPMs or keys of different sections would describe none of them; a vote lets a
    track's main tempo and key win over an intro or a bridge.
    """
    def support(candidate: _Segment) -> float:
        return sum(s.duration_s * (confidence(s) + 1e-6) for s in segments if agree(candidate, s))

    return max(segments, key=support)


def _combine(
    path: str | None, sr: int, channels: int, duration_s: float, segments: list[_Segment],
    meter: LoudnessMeter, tagger: Any, timings: dict[str, float], started: float,
) -> Analysis:
    from audiotaste.features import descriptors

    t0 = time.perf_counter()
    best_tempo = _vote(segments, lambda a, b: abs(a.tempo.bpm - b.tempo.bpm) <= 0.04 * max(a.tempo.bpm, 1e-9),
                       lambda s: s.tempo.confidence)
    best_key = _vote(segments, lambda a, b: (a.key.key, a.key.mode) == (b.key.key, b.key.mode),
                     lambda s: s.key.confidence)
    total = sum(s.duration_s for s in segments) or 1.0
    beats: list[float] = []
    offset = 0.0
    for s in segments:
        beats.extend(offset + t for t in s.tempo.beat_times)
        offset += s.duration_s
    onset_rate = sum(s.tempo.onset_rate * s.duration_s for s in segments) / total
    bright = sum(s.brightness * s.duration_s for s in segments) / total
    lufs = meter.integrated_lufs()
    tempo_est, key_est = best_tempo.tempo, best_key.key
    tags_out: dict[str, dict[str, float]] = {}
    embedding: tuple[float, ...] = ()
    weight = sum(s.tag_weight for s in segments)
    if tagger is not None and weight > 0:
        for s in segments:
            for tax, probs in s.tag_sums.items():
                acc = tags_out.setdefault(tax, {})
                for k, v in probs.items():
                    acc[k] = acc.get(k, 0.0) + v
        tags_out = {tax: {k: v / weight for k, v in probs.items()} for tax, probs in tags_out.items()}
        if getattr(tagger, "track_heads", None):  # mood re-weighed with the key's mode
            tags_out = tagger.apply_track_head(tags_out, mode=key_est.mode,
                                               key_confidence=key_est.confidence, key=key_est.key)
        emb = sum(s.embedding_sum for s in segments if s.embedding_sum is not None)
        embedding = tuple(float(x) for x in np.asarray(emb) / weight)
    timings["features"] += time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    return Analysis(
        path=path,
        duration_s=float(duration_s),
        sample_rate=int(sr),
        channels=int(channels),
        tempo_bpm=float(tempo_est.bpm),
        tempo_confidence=float(tempo_est.confidence),
        beat_times=tuple(float(t) for t in beats),
        time_signature=int(tempo_est.time_signature),
        key=int(key_est.key),
        key_name=str(key_est.key_name),
        mode=int(key_est.mode),
        key_confidence=float(key_est.confidence),
        loudness_lufs=float(lufs),
        loudness_range_lu=meter.loudness_range_lu(),
        energy=descriptors.energy(loudness_lufs=lufs, brightness=bright, onset_rate=onset_rate),
        danceability=descriptors.danceability(
            tempo_bpm=tempo_est.bpm, tempo_confidence=tempo_est.confidence,
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
    )
