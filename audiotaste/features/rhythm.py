"""Tempo, beats, time signature and onset rate from the shared mel front end.

The tempo is the *tapped* beat (what a listener taps along to): the quarter note in simple meters and
the dotted quarter in 6/8 and 12/8.

``time_signature`` counts tapped beats per bar, folded into the two values the ``Analysis`` contract
allows: 3 for triple grouping of the tapped beat (3/4 waltzes) and 4 for duple grouping. 6/8 has two
tapped (dotted-quarter) beats per bar, so it is reported as 4 (two 6/8 bars make one 12/8 bar of four
tapped beats). Reporting 3 for 6/8 would claim a waltz-like grouping of the tapped beat, which is the
wrong answer to the question a user asks ("do I count in threes or in fours?").

Method: six onset envelopes (dB spectral flux of four mel-band groups and of the whole spectrum, and
the rise of the total level) give autocorrelation and Fourier tempograms on a log-tempo axis (24
bins per octave, 7.5-317 BPM), and so does the harmonic change (where the chord changes, from the
chroma); the levels of 32 narrow mel band groups give two more, which show how often the spectral
pattern repeats. The last two are what drumless music, whose onsets are all alike, is heard by.
Classical methods pick the strongest periodicity and then err by octaves; here a small CNN (``TempoNet``, ``models/features/tempo.safetensors``, trained on
renders by ``scripts/train_tempo.py``, then fine-tuned on real rhythm-game charts by
``scripts/tune_tempo_real.py``) makes the octave decision, and the autocorrelation peak near its choice
gives the period. Without the model file the strongest periodicity under a flat 60-200 BPM
prior is used. Beats are the constant grid (period within 4 % of the tempo's, and phase) that best
fits a beat strength made of the bass, snare-band, loudness and chord-change onsets; the grid's
period is the reported tempo. From the grid the beats follow the onsets, either leaning a little
towards each (a steady tempo) or locked to them in phase and period (a band that drifts), whichever
beats sit on more strength.

No invented tempo: a signal shorter than ``MIN_TEMPO_S``, silent, or without a pulse (a steady
sound, whose only onset is its start; noise, whose onsets are everywhere alike) gets ``bpm=None``
and a ``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch

from audiotaste.features._models import TempoEnsemble, TempoNet, load_tempo_net
from audiotaste.features.beats import beat_strength, track_beats
from audiotaste.features.spectrum import (
    ANALYSIS_SR,
    HOP_LENGTH,
    Spectrum,
    melspectrogram,
    stft_power,
)
from audiotaste.features.tempogram import (
    BINS_PER_OCTAVE,
    MAX_BPM,
    MIN_BPM,
    N_TEMPO_BINS,
    _novelty,
    _raw_autocorrelation,
    model_input,
    tempo_inputs,
)


@dataclass(frozen=True)
class TempoEstimate:
    """Tempo and beat grid of one recording.

    Attributes
    ----------
    bpm : float or None
        Tapped-beat tempo, beats per minute; ``None`` when there is no pulse to tap (``reason``).
    confidence : float
        0-1, how clearly one periodicity dominates (0 without a tempo).
    beat_times : tuple of float
        Beat positions, seconds (empty without a tempo).
    time_signature : int or None
        Tapped beats per bar, 3 or 4 (6/8 and 12/8 report 4, see the module docstring); ``None``
        without a tempo.
    onset_rate : float
        Onsets per second.
    reason : str or None
        Why there is no tempo (``None`` when there is one).
    beat_strength : np.ndarray [n_frames] or None
        The signal the beats were placed on (``beat_strength``), at ``fps`` frames per second, kept
        so that ``at_tempo`` can place them again; not part of ``to_dict``.
    fps : float
        Frame rate of ``beat_strength``.
    """

    bpm: float | None
    confidence: float
    beat_times: tuple[float, ...]
    time_signature: int | None
    onset_rate: float
    reason: str | None = None
    beat_strength: np.ndarray | None = field(default=None, repr=False, compare=False)
    fps: float = field(default=0.0, repr=False, compare=False)

    @classmethod
    def none(cls, reason: str, *, onset_rate: float = 0.0) -> TempoEstimate:
        """No tempo, for ``reason``."""
        return cls(None, 0.0, (), None, onset_rate, reason)

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("beat_strength", "fps")}
        out["beat_times"] = list(self.beat_times)
        return out


#: Shortest signal a tempo is read from, seconds: a few beats at any tempo the model knows.
MIN_TEMPO_S = 3.0
#: Mel level (dB, ``spectrum.power_to_db``) under which a signal is silent: a full-scale sine peaks
#: near +39 dB, so this is about -80 dB re full scale.
SILENT_MEL_DB = -40.0
#: Smallest onset periodicity (normalised autocorrelation of the onset novelty, 40-250 BPM) that is
#: a pulse. A steady tone or DC has 0-0.006 (its only onset is its start); real recordings (160 clips
#: of the real dev split) from 0.027 (dense electronic pop; a rubato jazz ballad 0.041).
MIN_PULSE = 0.015
#: Smallest spread (std / mean) of the onset strength that is not noise: the dB flux of white or
#: pink noise is nearly the same in every frame (0.21-0.22); real recordings measured from 0.33
#: (dense electronic pop), rendered distorted rock 0.54.
MIN_ONSET_SPREAD = 0.28


def onset_envelope(mel_db: np.ndarray, *, sr: int = ANALYSIS_SR, hop_length: int = HOP_LENGTH) -> np.ndarray:
    """Spectral-flux onset strength: mean half-wave-rectified rise of the mel spectrum in dB.

    Parameters
    ----------
    mel_db : np.ndarray [n_mels, n_frames]
        Mel spectrogram in dB.
    sr, hop_length : int
        Sample rate (Hz) and hop (samples) of ``mel_db``; frame ``i`` of the result is at
        ``i * hop_length / sr`` seconds.

    Returns
    -------
    np.ndarray [n_frames], float32
        Onset strength, dB per frame (0 for the first frame).
    """
    mel_db = np.asarray(mel_db, dtype=np.float32)
    if mel_db.ndim != 2:
        raise ValueError(f"mel_db must be 2-D [n_mels, n_frames], got shape {mel_db.shape}")
    env = np.zeros(mel_db.shape[1], dtype=np.float32)
    if mel_db.shape[1] > 1 and mel_db.shape[0] > 0:
        env[1:] = np.maximum(np.diff(mel_db, axis=1), 0.0).mean(axis=0)
    return env


def tempo(
    y: np.ndarray | None = None,
    sr: int = ANALYSIS_SR,
    *,
    spectrum: Spectrum | None = None,
    mel_db: np.ndarray | None = None,
) -> TempoEstimate:
    """Estimate the tapped-beat tempo, beat times, time signature and onset rate.

    Parameters
    ----------
    y : np.ndarray [n_samples], optional
        Mono signal; used only when ``spectrum`` is not given (its STFT gives the harmonic change
        and, without ``mel_db``, the mel spectrum).
    sr : int
        Sample rate of ``y``, Hz.
    spectrum : Spectrum, optional
        Precomputed power STFT (gives the frame rate and, without ``mel_db``, the mel spectrum).
    mel_db : np.ndarray [n_mels, n_frames], optional
        Precomputed mel spectrogram in dB (``analyze`` passes the shared 128-band one). Given alone,
        the harmonic change is unknown (zero) and the tempo model hears less.

    Returns
    -------
    TempoEstimate
    """
    hop = HOP_LENGTH
    if spectrum is None and y is not None:
        spectrum = stft_power(np.asarray(y, dtype=np.float32), sr=sr)
    if spectrum is not None:
        sr, hop = spectrum.sr, spectrum.hop_length
    if mel_db is None:
        if spectrum is None:
            raise TypeError("tempo needs y, spectrum or mel_db")
        mel_db = melspectrogram(spectrum=spectrum)
    fps = sr / hop
    env = onset_envelope(mel_db, sr=sr, hop_length=hop)
    if mel_db.size == 0 or float(mel_db.max()) < SILENT_MEL_DB:
        return TempoEstimate.none("silent")
    bands, levels = tempo_inputs(mel_db, spectrum)
    return _estimate(env, fps, bands, levels)


def _estimate(
    env: np.ndarray, fps: float, bands: np.ndarray | None = None, levels: np.ndarray | None = None
) -> TempoEstimate:
    """The tempo from the onset envelope; with ``bands`` and ``levels`` (and the model installed)
    through the tempo model."""
    rate = _onset_rate(env, fps)
    duration = env.size / fps
    if duration < MIN_TEMPO_S:
        return TempoEstimate.none(
            f"too short ({duration:.2f} s, a tempo needs at least {MIN_TEMPO_S:.0f} s)", onset_rate=rate)
    novelty = _novelty(env, fps)
    if pulse_strength(novelty, fps) < MIN_PULSE:
        return TempoEstimate.none("no pulse: no repeating onsets (a steady sound or none)", onset_rate=rate)
    if float(env.std()) < MIN_ONSET_SPREAD * float(env.mean()):
        return TempoEstimate.none("no pulse: the onsets are as even as noise", onset_rate=rate)
    loaded = load_tempo_net() if bands is not None and levels is not None else None
    if loaded is not None and bands is not None and levels is not None:
        period, confidence, meter = _learned_period(bands, levels, fps, loaded[0])
    else:
        period, confidence = _pick_period(_autocorrelation(novelty), fps)
        meter = 0
    if period <= 0:
        return TempoEstimate.none("no pulse: no periodicity in the tempo range", onset_rate=rate)
    while 60.0 * fps / period > MAX_BPM * 1.05:
        # faster than anyone taps (the model's top bin, refined on the autocorrelation, can land
        # there for a click at 336 BPM): the beat is felt an octave down, at 168
        period *= 2.0
    strength = beat_strength(bands, fps) if bands is not None else novelty
    beats, period = track_beats(strength, period)
    if meter == 0:
        meter = _meter(novelty, beats, period)
    elif meter == 3 and _accents_flat(novelty, beats):
        # a bar is heard from accents; the model also hears a beat divided in three (6/8 eighths)
        # and may call it triple, but with every beat equally strong there is no bar to count, and
        # duple is the default (see the module docstring)
        meter = 4
    return TempoEstimate(
        bpm=float(60.0 * fps / period),
        confidence=float(confidence),
        beat_times=tuple(float(b / fps) for b in beats),
        time_signature=meter,
        onset_rate=rate,
        beat_strength=strength,
        fps=fps,
    )


#: Tempo ratios that are one pulse heard at another level (an octave, a third, a dotted beat), not
#: another tempo: a segment read at one of these beside the track's tempo gets the track's beats.
_PULSE_RATIOS = (2.0, 0.5, 3.0, 1.0 / 3.0, 1.5, 2.0 / 3.0)


def at_tempo(estimate: TempoEstimate, bpm: float) -> TempoEstimate:
    """The same estimate with its beats placed at ``bpm`` instead, where that is the same pulse.

    ``analyze`` reads long files in segments and votes on one tempo; a segment that heard the
    pulse an octave (or a third, or a dotted beat) away from the vote gets beats at the voted
    tempo, so the beat list of the track follows one tempo. A segment at an unrelated tempo (a
    tempo change), without a tempo, or without its beat strength is returned unchanged.
    """
    if estimate.bpm is None or estimate.beat_strength is None or estimate.fps <= 0:
        return estimate
    ratio = estimate.bpm / bpm
    if abs(ratio - 1.0) <= 0.04 or not any(abs(ratio / r - 1.0) <= 0.04 for r in _PULSE_RATIOS):
        return estimate
    beats, _ = track_beats(estimate.beat_strength, 60.0 * estimate.fps / bpm)
    return replace(estimate, beat_times=tuple(float(b / estimate.fps) for b in beats))


def pulse_strength(novelty: np.ndarray, fps: float) -> float:
    """How periodic the onsets are: the largest normalised autocorrelation of the onset novelty
    (``tempogram._novelty``) at a beat period of 40-250 BPM, 0-1 (0 for fewer than 4 frames)."""
    if novelty.size < 4:
        return 0.0
    acf = _autocorrelation(novelty)
    lo = max(1, int(np.floor(60.0 * fps / 250.0)))
    hi = min(acf.size - 1, int(np.ceil(60.0 * fps / 40.0)))
    return float(max(0.0, acf[lo : hi + 1].max())) if hi >= lo else 0.0


#: Smallest autocorrelation peak (share of the lag-0 value, summed over the onset bands) trusted to
#: refine the model's period. Chosen on 723 corpus/full clips: refining from any peak lost Acc1
#: (0.942 -> 0.936), from peaks above 0.1 never changed an answer's correctness.
_MIN_ACF_PEAK = 0.1


def _learned_period(
    bands: np.ndarray, levels: np.ndarray, fps: float, net: TempoNet | TempoEnsemble
) -> tuple[float, float, int]:
    """Period (frames), confidence and meter from the tempo model, refined on the autocorrelation."""
    feats, acf = model_input(bands, fps, levels)
    with torch.inference_mode():
        logits, hidden = net(torch.from_numpy(feats)[None])
        probs = torch.softmax(logits[0], dim=0).numpy()
        b = int(np.argmax(probs))
        meter_p = torch.softmax(net.meter_logits(hidden, torch.tensor([b]))[0], dim=0).numpy()
    confidence = float(probs[max(0, b - 1) : b + 2].sum())
    # sub-bin tempo: the probability-weighted log-tempo of the chosen bin and its neighbours
    lo_b, hi_b = max(0, b - 1), min(N_TEMPO_BINS - 1, b + 1)
    w = probs[lo_b : hi_b + 1]
    pos = float((w * np.arange(lo_b, hi_b + 1)).sum() / max(float(w.sum()), 1e-12))
    period = 60.0 * fps / float(MIN_BPM * 2.0 ** (pos / BINS_PER_OCTAVE))
    # a clear autocorrelation peak within +-1 bin gives the exact period (a steady beat grid); a weak
    # one (sparse, rubato or drumless music) is noise that pulled correct choices 5-10 % off, so the
    # model's own estimate stands there
    span = 2.0 ** (1.0 / BINS_PER_OCTAVE)
    lo = max(1, int(np.floor(period / span)))
    hi = min(acf.size - 2, int(np.ceil(period * span)))
    if hi > lo and acf[0] > 0:
        i = lo + int(np.argmax(acf[lo : hi + 1]))
        a, c, m = acf[i - 1], acf[i + 1], acf[i]
        if m >= _MIN_ACF_PEAK * acf[0] and m >= a and m >= c:
            period = float(i)
            denom = a - 2 * m + c
            if denom < 0:
                period += float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
    return period, confidence, 3 if meter_p[0] > 0.5 else 4




def _autocorrelation(x: np.ndarray) -> np.ndarray:
    acf = _raw_autocorrelation((x - x.mean())[None], x.size)[0]
    # biased on purpose: among equally periodic multiples the shorter lag (faster tempo) wins
    return acf / acf[0] if acf[0] > 0 else acf


def _pick_period(acf: np.ndarray, fps: float) -> tuple[float, float]:
    """Strongest periodicity under a tempo prior (flat over 60-200 BPM, log-normal tails), sub-frame lag."""
    lags = np.arange(acf.size, dtype=np.float64)
    lo = max(1, int(np.floor(60.0 * fps / MAX_BPM)))
    hi = min(acf.size - 2, int(np.ceil(60.0 * fps / MIN_BPM)))
    if hi <= lo:
        return 0.0, 0.0
    bpm = 60.0 * fps / lags[lo : hi + 1]
    octaves_out = np.maximum(np.log2(60.0 / bpm), 0.0) + np.maximum(np.log2(bpm / 200.0), 0.0)
    prior = np.exp(-0.5 * (octaves_out / 0.5) ** 2)
    score = np.maximum(acf[lo : hi + 1], 0.0) * prior
    best = lo + int(np.argmax(score))
    # a plain pulse correlates equally at every multiple of its period; take the shortest such lag
    for div in (2, 3):
        cand = int(round(best / div))
        if cand < lo:
            break
        near = cand - 1 + int(np.argmax(acf[cand - 1 : cand + 2]))
        if acf[near] >= 0.9 * acf[best]:
            best = near
            break
    i = best - lo
    lag = float(best)
    if 0 < lo + i < acf.size - 1:
        a, b, c = acf[lo + i - 1], acf[lo + i], acf[lo + i + 1]
        denom = a - 2 * b + c
        if denom < 0:
            lag += float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
    confidence = float(np.clip(acf[lo + i], 0.0, 1.0))
    return lag, confidence


def _beat_accents(novelty: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Onset strength at each beat (the peak within +-2 frames)."""
    idx = np.minimum(beats.astype(int), novelty.size - 1)
    return np.array([novelty[max(0, i - 2) : i + 3].max() for i in idx])


def _accents_flat(novelty: np.ndarray, beats: np.ndarray) -> bool:
    """True when the beats are (nearly) equally strong: no accent pattern to hear a bar from."""
    if beats.size < 6:
        return False
    accents = _beat_accents(novelty, beats)
    level = float(accents.mean())
    return level <= 0 or float(accents.std()) < _FLAT_ACCENTS * level


#: Beat-accent spread (std / mean) below which the beats count as equally strong.
_FLAT_ACCENTS = 0.1


def _meter(novelty: np.ndarray, beats: np.ndarray, period: float) -> int:
    """3 if beat accents repeat every 3 beats more strongly than every 2 or 4, else 4."""
    if beats.size < 12:
        return 4
    accents = _beat_accents(novelty, beats)
    level = accents.mean()
    accents = accents - level
    if level <= 0 or accents.std() < _FLAT_ACCENTS * level:  # no accent pattern to read a meter from
        return 4

    def corr(lag: int) -> float:
        return float(np.mean(accents[:-lag] * accents[lag:]))

    # triple only when clearly stronger: duple is the usual case and the safer default
    return 3 if corr(3) > 1.5 * max(corr(2), corr(4), 0.0) else 4


def _onset_rate(env: np.ndarray, fps: float) -> float:
    """Onsets per second: local maxima of the onset strength above an adaptive threshold."""
    if env.size < 3:
        return 0.0
    width = min(env.size, max(1, int(round(0.5 * fps))))
    local = np.convolve(env, np.ones(width) / width, mode="same")
    threshold = local + 0.5 * env.std()
    peaks = (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > threshold[1:-1])
    # at most one onset per 50 ms
    frames = np.flatnonzero(peaks) + 1
    if frames.size:
        keep = [frames[0]]
        for f in frames[1:]:
            if f - keep[-1] >= 0.05 * fps:
                keep.append(f)
        frames = np.asarray(keep)
    return float(frames.size / (env.size / fps))
