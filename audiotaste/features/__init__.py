"""Features from samples (stage 2): the mel front end, rhythm, tonality, loudness, descriptors."""

from audiotaste.features.descriptors import brightness, danceability, energy
from audiotaste.features.loudness import LoudnessMeter, loudness
from audiotaste.features.rhythm import TempoEstimate, tempo
from audiotaste.features.spectrum import Spectrum, melspectrogram, stft_power
from audiotaste.features.tonal import KeyEstimate, chromagram, key

__all__ = [
    "KeyEstimate",
    "LoudnessMeter",
    "Spectrum",
    "TempoEstimate",
    "brightness",
    "chromagram",
    "danceability",
    "energy",
    "key",
    "loudness",
    "melspectrogram",
    "stft_power",
    "tempo",
]
