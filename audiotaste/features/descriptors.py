"""Track-level descriptors with an honest signal-level definition, each on a documented 0-1 scale.

Spotify's ``energy`` and ``danceability`` came from undisclosed models; these are transparent
formulas over measured quantities, chosen to move the same way (louder, brighter, busier → more
energetic; a clear, regular pulse near 120 BPM → more danceable). No descriptor is invented where no
signal-level definition exists (valence, acousticness, speechiness … are left out on purpose).
"""

from __future__ import annotations

import math

import numpy as np

from audiotaste.features.spectrum import Spectrum

BRIGHTNESS_LOW_HZ = 200.0
BRIGHTNESS_HIGH_HZ = 8000.0


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x))) if math.isfinite(x) else 0.0


def spectral_centroid(spectrum: Spectrum) -> float:
    """Power-weighted mean frequency over the whole signal, Hz (0 for silence)."""
    per_bin = spectrum.power.sum(axis=1, dtype=np.float64)
    total = per_bin.sum()
    if total <= 0:
        return 0.0
    return float(per_bin @ spectrum.frequencies() / total)


def brightness(spectrum: Spectrum) -> float:
    """Spectral centroid on a log-frequency scale: 0 at ≤ 200 Hz, 1 at ≥ 8 kHz."""
    centroid = spectral_centroid(spectrum)
    if centroid <= 0:
        return 0.0
    return _clip01(math.log2(centroid / BRIGHTNESS_LOW_HZ) / math.log2(BRIGHTNESS_HIGH_HZ / BRIGHTNESS_LOW_HZ))


def energy(*, loudness_lufs: float, brightness: float, onset_rate: float) -> float:
    """Perceived intensity, 0-1.

    ``0.5·L + 0.3·brightness + 0.2·O`` with ``L = (LUFS + 35) / 30`` (−35 LUFS → 0, −5 LUFS → 1) and
    ``O = onset_rate / 6`` (6 onsets per second → 1), each clipped to [0, 1].
    """
    loud = _clip01((loudness_lufs + 35.0) / 30.0) if math.isfinite(loudness_lufs) else 0.0
    return _clip01(0.5 * loud + 0.3 * brightness + 0.2 * _clip01(onset_rate / 6.0))


def beat_regularity(beat_times: np.ndarray | tuple[float, ...]) -> float:
    """1 − coefficient of variation of the inter-beat intervals, clipped to [0, 1] (0 with < 4 beats)."""
    beats = np.asarray(beat_times, dtype=np.float64)
    if beats.size < 4:
        return 0.0
    ibi = np.diff(beats)
    mean = ibi.mean()
    return _clip01(1.0 - float(ibi.std() / mean)) if mean > 0 else 0.0


def danceability(
    *, tempo_bpm: float, tempo_confidence: float, beat_times: np.ndarray | tuple[float, ...]
) -> float:
    """Beat strength and regularity at a danceable tempo, 0-1.

    ``0.4·pulse + 0.35·fit + 0.25·regularity``: ``pulse`` is the tempo confidence; ``fit`` is a
    Gaussian in log2-tempo around 118 BPM (σ = 0.35 octave: 90 and 150 BPM score ~0.6); regularity is
    ``beat_regularity``.
    """
    if not (math.isfinite(tempo_bpm) and tempo_bpm > 0):
        return 0.0
    fit = math.exp(-0.5 * (math.log2(tempo_bpm / 118.0) / 0.35) ** 2)
    return _clip01(0.4 * _clip01(tempo_confidence) + 0.35 * fit + 0.25 * beat_regularity(beat_times))
