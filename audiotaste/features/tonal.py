"""Chroma and musical key.

The key is the tonic pitch class (C = 0, spelled with sharps) and the mode (1 major, 0 minor), as in the
Spotify audio-features API. Silence (no pitched energy) gives ``key == -1`` and confidence 0.

Method: the signal is resampled to 5.5 kHz for a 2.7 Hz-resolution STFT, folded onto a
tuning-corrected semitone axis (41 Hz-2.5 kHz), log-compressed and stripped of its broadband floor
(drums, noise). Pitch-class summaries of it (``key_features``) feed a transposition-equivariant
classifier (``KeyNet``, ``models/features/key.safetensors``, trained by ``scripts/train_key.py``);
without the model file, Temperley's key profiles are matched to the mean chroma.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from audiotaste.features._models import load_key_net
from audiotaste.features.pitch import (
    _MIDI_HI,
    _MIDI_LO,
    fold_pitch_classes,
    key_features,
    semitone_spectrogram,
)
from audiotaste.features.spectrum import ANALYSIS_SR, Spectrum

KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# Temperley's (Kostka-Payne) key profiles; tonic first.
_MAJOR = np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400])
_MINOR = np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330])


@dataclass(frozen=True)
class KeyEstimate:
    """Key of one recording.

    Attributes
    ----------
    key : int
        Tonic pitch class 0-11 (C = 0), -1 when there is no pitched content.
    key_name : str
        Tonic spelled with sharps (``"F#"``), ``""`` when ``key == -1``.
    mode : int
        1 major, 0 minor.
    confidence : float
        0-1 strength of the estimate.
    """

    key: int
    key_name: str
    mode: int
    confidence: float

    def to_dict(self) -> dict:
        return asdict(self)


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

def key(y: np.ndarray | None = None, sr: int = ANALYSIS_SR, *, spectrum: Spectrum | None = None) -> KeyEstimate:
    """Estimate the key (tonic and mode).

    A small transposition-equivariant classifier (``models/features/key.safetensors``) reads
    ``key_features``; without it, the mean chroma is matched to Temperley's key profiles.

    Parameters
    ----------
    y : np.ndarray [n_samples], optional
        Mono signal. Preferred: it is resampled to 5.5 kHz for a 2.7 Hz-resolution spectrum.
    sr : int
        Sample rate of ``y``, Hz.
    spectrum : Spectrum, optional
        Precomputed power STFT, used only when ``y`` is not given (coarser low notes).

    Returns
    -------
    KeyEstimate
        ``key == -1`` and confidence 0 when there is no pitched content.
    """
    if y is None and spectrum is None:
        raise TypeError("key needs y or spectrum")
    feats = key_features(y, sr, spectrum=spectrum)
    if feats is None:
        return KeyEstimate(-1, "", 1, 0.0)
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
    tonic, mode = best % 12, 1 - best // 12
    return KeyEstimate(tonic, KEY_NAMES[tonic], mode, confidence)


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
