"""Chroma and musical key.

The key is the tonic pitch class (C = 0, spelled with sharps) and the mode (1 major, 0 minor), as in the
Spotify audio-features API. Where there is no key to hear (shorter than ``MIN_KEY_S``, silence,
noise, a single note) the key, its name and the mode are ``None`` and ``reason`` says why: the *key
strength* (how much of the spectrum is tonal) is below ``MIN_KEY_STRENGTH``, or only one note sounds.
Speech and percussion alone, whose tonal share overlaps that of loud electronic and pop, are told
from music by :mod:`.nonmusic` (a check fitted on real speech, drum grooves and music), and get no
key either (``SPEECH_REASON``, ``PERCUSSION_REASON``).

Method: the signal is resampled to 5.5 kHz for a 2.7 Hz-resolution STFT, folded onto a
tuning-corrected semitone axis (41 Hz-2.5 kHz), log-compressed and stripped of its broadband floor
(drums, noise). Pitch-class summaries of it (``pitch.key_inputs``) feed a transposition-equivariant
classifier (``KeyNet``, ``models/features/key.safetensors``, trained by ``scripts/train_key.py``);
without the model file, Temperley's key profiles are matched to the mean chroma.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from audiotaste.features import nonmusic
from audiotaste.features._models import load_key_net
from audiotaste.features.pitch import (
    _MIDI_HI,
    _MIDI_LO,
    fold_pitch_classes,
    key_inputs,
    semitone_spectrogram,
)
from audiotaste.features.spectrum import ANALYSIS_SR, Spectrum, melspectrogram

KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# Temperley's (Kostka-Payne) key profiles; tonic first.
_MAJOR = np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400])
_MINOR = np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330])


@dataclass(frozen=True)
class KeyEstimate:
    """Key of one recording.

    Attributes
    ----------
    key : int or None
        Tonic pitch class 0-11 (C = 0); ``None`` when there is no key (``reason`` says why).
    key_name : str or None
        Tonic spelled with sharps (``"F#"``); ``None`` with ``key``.
    mode : int or None
        1 major, 0 minor; ``None`` with ``key``.
    confidence : float
        0-1, the model's probability of this key (0 when there is none).
    strength : float
        0-1 key strength: the tonal share of the spectrum (``pitch.key_inputs``) relative to that of
        clearly pitched music (capped at 1); under ``MIN_KEY_STRENGTH`` there is no key.
    reason : str or None
        Why there is no key (``None`` when there is one).
    """

    key: int | None
    key_name: str | None
    mode: int | None
    confidence: float
    strength: float = 0.0
    reason: str | None = None

    @classmethod
    def none(cls, reason: str, *, strength: float = 0.0) -> KeyEstimate:
        """No key, for ``reason``."""
        return cls(None, None, None, 0.0, strength, reason)

    def to_dict(self) -> dict:
        return asdict(self)


#: Shortest signal a key is read from, seconds: a few chords.
MIN_KEY_S = 3.0
#: Tonal share (``pitch.key_inputs``) that counts as clearly pitched (key strength 1): rendered pop
#: and rock 0.08-0.3, a chord progression 0.29.
_FULL_TONAL_SHARE = 0.15
#: Key strength under which there is no key: a tonal share of 0.035. Measured: white and pink noise
#: 0.026-0.031, DC 0.002; real recordings (the first 98 clips of the real dev split) from 0.044.
MIN_KEY_STRENGTH = 0.035 / _FULL_TONAL_SHARE
#: ``pitch.key_inputs`` row with the share of frames in which each pitch class is prominent: a key
#: needs at least three pitch classes that are, not all adjacent (``_one_note``).
_PROMINENCE_ROW = 6
#: ``KeyEstimate.reason`` of speech and of percussion alone (``nonmusic.judge``); the analysis flags
#: the genre and mood of speech by it.
SPEECH_REASON = "no key: speech"
PERCUSSION_REASON = "no key: percussion only"


def chromagram(spectrum: Spectrum, *, midi_lo: int = _MIDI_LO, midi_hi: int = _MIDI_HI) -> np.ndarray:
    """Pitch-class magnitude per frame: the semitone spectrogram folded onto 12 pitch classes.

    Parameters
    ----------
    spectrum : Spectrum
        Power STFT. Long windows resolve low notes: at 22.05 kHz with 2048 samples, bins are 10.8 Hz
        wide, wider than a semitone below ~180 Hz.
    midi_lo, midi_hi : int
        Pitch range folded, MIDI note numbers (default 41 Hz to 2.5 kHz).

    Returns
    -------
    np.ndarray [12, n_frames], float32
        Non-negative, C first; not normalised.
    """
    semis = semitone_spectrogram(spectrum, midi_lo=midi_lo, midi_hi=midi_hi)
    return fold_pitch_classes(semis, midi_lo)

def key(
    y: np.ndarray | None = None, sr: int = ANALYSIS_SR, *, spectrum: Spectrum | None = None,
    mel_db: np.ndarray | None = None,
) -> KeyEstimate:
    """Estimate the key (tonic and mode).

    A small transposition-equivariant classifier (``models/features/key.safetensors``) reads
    ``pitch.key_inputs``; without it, the mean chroma is matched to Temperley's key profiles.

    Parameters
    ----------
    y : np.ndarray [n_samples], optional
        Mono signal. Preferred: it is resampled to 5.5 kHz for a 2.7 Hz-resolution spectrum.
    sr : int
        Sample rate of ``y``, Hz.
    spectrum : Spectrum, optional
        Precomputed power STFT, used for the key only when ``y`` is not given (coarser low notes).
    mel_db : np.ndarray [N_MELS, n_frames], optional
        Mel spectrogram in dB at ``ANALYSIS_SR`` (``spectrum.melspectrogram``), read by the speech and
        percussion check; computed from ``spectrum`` (or ``y``) when not given.

    Returns
    -------
    KeyEstimate
        ``key``, ``key_name`` and ``mode`` are ``None`` with a ``reason`` when there is no key:
        too short, silent, noise, speech (``SPEECH_REASON``), one note, percussion only
        (``PERCUSSION_REASON``), checked in this order (speech before one note: a monotone reader
        may sound one note).
    """
    if y is None and spectrum is None:
        raise TypeError("key needs y or spectrum")
    duration = (np.asarray(y).shape[-1] / sr if y is not None
                else spectrum.n_frames * spectrum.hop_length / spectrum.sr)  # type: ignore[union-attr]
    if duration < MIN_KEY_S:
        return KeyEstimate.none(f"too short ({duration:.2f} s, a key needs at least {MIN_KEY_S:.0f} s)")
    inputs = key_inputs(y, sr, spectrum=spectrum)
    if inputs is None:
        return KeyEstimate.none("silent")
    feats, tonal_share = inputs
    loaded = load_key_net()
    if loaded is not None:
        with torch.inference_mode():
            probs = torch.softmax(loaded[0](torch.from_numpy(feats)[None])[0], dim=0).numpy()
        best = int(np.argmax(probs))
        confidence = float(probs[best])
    else:
        scores = _template_scores(feats[:3].sum(axis=0).astype(np.float64))  # register chromas
        best = int(np.argmax(scores))
        ranked = np.sort(scores)[::-1]
        confidence = float(np.clip((ranked[0] - ranked[1]) * 5.0 + max(ranked[0], 0.0) * 0.5, 0.0, 1.0))
    strength = min(1.0, tonal_share / _FULL_TONAL_SHARE)
    if strength < MIN_KEY_STRENGTH:
        return KeyEstimate.none("no key: little pitched content (noise)", strength=strength)
    # after the noise gate: the check was fitted on speech, drums and music, never on noise
    verdict = nonmusic.judge(_mel_db(y, sr, spectrum, mel_db), feats, tonal_share)
    if verdict.kind == "speech":
        return KeyEstimate.none(SPEECH_REASON, strength=strength)
    if _one_note(feats[_PROMINENCE_ROW] >= 0.05):
        return KeyEstimate.none("no key: a single note or interval", strength=strength)
    if verdict.kind is not None:
        return KeyEstimate.none(PERCUSSION_REASON, strength=strength)
    tonic, mode = best % 12, 1 - best // 12
    return KeyEstimate(tonic, KEY_NAMES[tonic], mode, confidence, strength)


def _mel_db(y: np.ndarray | None, sr: float, spectrum: Spectrum | None, mel_db: np.ndarray | None) -> np.ndarray:
    """The mel spectrogram (dB) at ``ANALYSIS_SR`` the non-music check reads: given, or made."""
    if mel_db is not None:
        return mel_db
    if spectrum is not None and (spectrum.sr == ANALYSIS_SR or y is None):
        return melspectrogram(spectrum=spectrum)
    import soxr

    signal = np.asarray(y, dtype=np.float32)
    if sr != ANALYSIS_SR:
        signal = soxr.resample(signal, sr, ANALYSIS_SR, quality="HQ")
    return melspectrogram(signal, ANALYSIS_SR)


def _one_note(prominent: np.ndarray) -> bool:
    """True when the prominent pitch classes [12] (bool) cannot make a key: fewer than three, or one
    unbroken run of at most five semitones (a single note whose spectrum is smeared over its
    neighbours, as a short beep's is; no scale has three semitones in a row)."""
    n = int(prominent.sum())
    if n < 3:
        return True
    if n > 5:
        return False
    rolled = np.roll(prominent, -int(np.argmin(prominent))).astype(int)  # starts in a gap
    return int((np.diff(rolled) == 1).sum()) <= 1


def _template_scores(profile: np.ndarray) -> np.ndarray:
    """Correlation of ``profile`` with the 12 major then 12 minor rotated templates: [24]."""
    x = profile - profile.mean()
    norm = np.linalg.norm(x)
    if norm == 0:
        return np.zeros(24)
    x = x / norm
    out = np.empty(24)
    for m, template in enumerate((_MAJOR, _MINOR)):
        t = template - template.mean()
        t = t / np.linalg.norm(t)
        for k in range(12):
            out[m * 12 + k] = float(x @ np.roll(t, k))
    return out
