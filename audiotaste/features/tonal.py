"""Chroma and musical key.

The key is the tonic pitch class (C = 0, spelled with sharps) and the mode (1 major, 0 minor), as in the
Spotify audio-features API. Silence (no pitched energy) gives ``key == -1`` and confidence 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from audiotaste.features.spectrum import ANALYSIS_SR, Spectrum, stft_power

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


@lru_cache(maxsize=8)
def _chroma_map(sr: int, n_fft: int, fmin: float, fmax: float) -> np.ndarray:
    """[12, n_bins] weights folding FFT bins between ``fmin`` and ``fmax`` onto pitch classes.

    Each bin is split between the two nearest pitch classes (triangular in cents) so that slightly
    detuned partials still count.
    """
    freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    weights = np.zeros((12, freqs.size), dtype=np.float32)
    valid = (freqs >= fmin) & (freqs <= fmax)
    midi = 69.0 + 12.0 * np.log2(freqs[valid] / 440.0)
    lower = np.floor(midi)
    frac = midi - lower
    cols = np.flatnonzero(valid)
    weights[(lower.astype(int)) % 12, cols] = 1.0 - frac
    weights[(lower.astype(int) + 1) % 12, cols] += frac
    weights.setflags(write=False)
    return weights


def chromagram(
    spectrum: Spectrum, *, fmin: float = 65.0, fmax: float = 2100.0, compression: float = 1.0
) -> np.ndarray:
    """Pitch-class energy per frame from a power STFT.

    Parameters
    ----------
    spectrum : Spectrum
        Power STFT.
    fmin, fmax : float
        Frequency range folded onto pitch classes, Hz.
    compression : float
        Exponent applied to the magnitude before folding (1 = magnitude), so that one loud
        partial does not outweigh a chord.

    Returns
    -------
    np.ndarray [12, n_frames], float32
        Non-negative chroma, C first; not normalised.
    """
    fmap = _chroma_map(spectrum.sr, spectrum.n_fft, fmin, fmax)
    return (fmap @ np.power(spectrum.power, 0.5 * compression)).astype(np.float32, copy=False)


def key(y: np.ndarray | None = None, sr: int = ANALYSIS_SR, *, spectrum: Spectrum | None = None) -> KeyEstimate:
    """Estimate the key (tonic and mode).

    Parameters
    ----------
    y : np.ndarray [n_samples], optional
        Mono signal; used when ``spectrum`` is not given.
    sr : int
        Sample rate of ``y``, Hz.
    spectrum : Spectrum, optional
        Precomputed power STFT.

    Returns
    -------
    KeyEstimate
    """
    if spectrum is None:
        if y is None:
            raise TypeError("key needs y or spectrum")
        spectrum = stft_power(np.asarray(y, dtype=np.float32), sr=sr)
    chroma = chromagram(spectrum)
    profile = chroma.sum(axis=1).astype(np.float64)
    if not np.all(np.isfinite(profile)) or profile.sum() <= 1e-6 * max(1, chroma.shape[1]):
        return KeyEstimate(-1, "", 1, 0.0)
    scores = _template_scores(profile)
    best = int(np.argmax(scores))
    tonic, mode = best % 12, 1 - best // 12
    ranked = np.sort(scores)[::-1]
    confidence = float(np.clip((ranked[0] - ranked[1]) * 5.0 + max(ranked[0], 0.0) * 0.5, 0.0, 1.0))
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
