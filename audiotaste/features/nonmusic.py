"""Is this speech, or percussion alone, rather than pitched music? A cheap, calibrated check.

Speech and drum-only recordings have no key, and the genre/mood taggers were never taught either:
without this check a read list of words got a key and electronic 0.89. :func:`summaries` reduces a
segment's mel spectrogram and the key's pitch-class inputs (both computed by the analysis anyway)
to a few numbers; two logistic regressions (:data:`SPEECH_MODEL`, :data:`PERCUSSION_MODEL`) read
them. They were fitted by ``scripts/fit_nonmusic.py`` on real recordings (read words and telephone
prompts of 16 speakers, grooves played with the samples of 16 drum kits, 1,092 real music clips;
halves split by speaker, kit and artist or package) and their thresholds chosen on the fit half
(``docs/BENCHMARKS.md``, "nonmusic"; ``docs/DATA.md``, "nonmusic").

Cost: a few vector operations over the mel frames below 3.8 kHz: 4-5 ms for a 3-min track (two
segments) on one shared core, measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiotaste.features.spectrum import ANALYSIS_SR, HOP_LENGTH, N_MELS, _hz_to_mel, _mel_to_hz

__all__ = ["MAX_SPEECH_PULSE", "NAMES", "PERCUSSION_MODEL", "SPEECH_MODEL", "Z_CLIP", "Verdict", "judge", "summaries"]

#: Spectral summaries read only the bands below this, Hz: telephone speech (8 kHz) and full-band
#: recordings then look alike, so the check cannot learn a recording's bandwidth instead of its content.
_FMAX = 3800.0
#: Bands (of ``N_MELS`` over 0-11 kHz) whose centre lies below ``_FMAX``, and below 1 kHz (resolved harmonics).
_MEL_HZ = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([ANALYSIS_SR / 2]))[0],
                                 N_MELS + 2))[1:-1]
_N_LOW = int(np.searchsorted(_MEL_HZ, _FMAX))
_N_HARM = int(np.searchsorted(_MEL_HZ, 1000.0))
_FPS = ANALYSIS_SR / HOP_LENGTH  # mel frames per second
_LOG_HZ = np.log2(_MEL_HZ[:_N_LOW] + 50.0).astype(np.float32)  # band centres, octaves

#: Speech has no steady pulse: on the fit half, the onset envelope's autocorrelation ("pulse") of
#: speech reached 0.21 at most and that of drum grooves 0.41 at least. The linear check alone called
#: sparse grooves speech (their pauses and level range look like a reader's), so it is gated by this.
MAX_SPEECH_PULSE = 0.35
#: Standardised summaries are clipped to this many standard deviations (``_Logistic``).
Z_CLIP = 3.0
#: Names of :func:`summaries`' outputs, in order.
NAMES = (
    "pause_share",      # frames 25 dB under the loud ones (between words), 0-1
    "level_std_db",     # spread of the frame level, dB
    "syllable_mod",     # share of the level's modulation at 2.5-7 Hz (syllables), 0-1
    "flux_db",          # mean rise of the spectrum from frame to frame, dB
    "peak_db",          # harmonic peaks over their neighbours below 1 kHz, dB
    "peak_cv",          # their variation from frame to frame (voiced / unvoiced), ratio
    "centroid_std",     # spread of the spectral centroid below 3.8 kHz, octaves
    "tonal_share",      # the key's tonal share, 0-1
    "chroma_entropy",   # entropy of the mean chroma, 0-1 (1: all twelve pitch classes alike)
    "held_pitch",       # mean similarity of the spectrum below 1 kHz 46 ms apart, -1-1
    "pulse",            # strongest autocorrelation of the onset envelope at 0.25-1.5 s, 0-1
    "flatness",         # spectral flatness below 3.8 kHz while sounding, 0-1 (1: noise)
    "level_range_db",   # loud frames over quiet ones (95th - 10th percentile), dB
)


def summaries(mel_db: np.ndarray, key_feats: np.ndarray | None, tonal_share: float) -> np.ndarray:
    """The :data:`NAMES` summaries of one segment.

    Parameters
    ----------
    mel_db : np.ndarray [N_MELS, n_frames]
        Mel spectrogram in dB (``spectrum.melspectrogram``), at ``ANALYSIS_SR`` and ``HOP_LENGTH``.
    key_feats : np.ndarray [N_KEY_ROWS, 12] or None
        ``pitch.key_inputs``' features (rows 0-2: the register chromas; 6: prominence shares).
    tonal_share : float
        ``pitch.key_inputs``' tonal share, 0-1.

    Returns
    -------
    np.ndarray [len(NAMES)], float64
    """
    # float32 throughout and every frame-by-band array made once: the whole check stays near 10 ms
    # for a 120-s segment
    low = np.asarray(mel_db[:_N_LOW], np.float32)
    n = low.shape[1]
    if n < 8:
        return np.zeros(len(NAMES))
    power = np.exp(low * np.float32(np.log(10.0) / 10.0))
    total = power.sum(axis=0)
    level = 10.0 * np.log10(total / _N_LOW + 1e-12)  # dB per frame
    loud, quiet = (float(v) for v in np.percentile(level, [95, 10]))
    active = level >= loud - 25.0
    if not active.any():
        active[:] = True
    pause = 1.0 - float(active.mean())
    env = np.maximum(level, loud - 40.0)  # a pause counts as 40 dB down, however silent it is
    level_std = float(np.std(env))
    spec = np.abs(np.fft.rfft(env - env.mean())) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / _FPS)
    band = spec[(freqs >= 0.5) & (freqs <= 12.0)].sum()
    syllable = float(spec[(freqs >= 2.5) & (freqs <= 7.0)].sum() / band) if band > 0 else 0.0
    rise = np.maximum(np.diff(low, axis=1), 0.0).mean(axis=0)  # onset envelope, dB per frame
    flux = float(rise.mean())
    harm = low[:_N_HARM]
    padded = np.pad(harm, ((2, 2), (0, 0)), mode="edge")
    neighbours = (padded[:-4] + padded[1:-3] + padded[3:-1] + padded[4:]) / 4.0
    peaks = np.maximum(harm - neighbours, 0.0).mean(axis=0)[active]  # dB per sounding frame
    peak = float(peaks.mean())
    peak_cv = float(peaks.std() / (peak + 1e-6))
    centroid = (_LOG_HZ @ power) / (total + 1e-12)
    centroid_std = float(np.std(centroid[active]))
    entropy = 1.0
    if key_feats is not None:
        chroma = np.asarray(key_feats[:3], np.float64).sum(axis=0)
        chroma = chroma / max(chroma.sum(), 1e-12)
        entropy = float(-(chroma * np.log(chroma + 1e-12)).sum() / np.log(12))
    onsets = rise - rise.mean()
    lo, hi = int(0.25 * _FPS), min(int(1.5 * _FPS), onsets.size - 1)
    pulse = 0.0
    if hi > lo:
        size = 1 << int(2 * onsets.size - 1).bit_length()  # zero-padded past 2n - 1: no wrap-around
        ac = np.fft.irfft(np.abs(np.fft.rfft(onsets, size)) ** 2, size)[: onsets.size]
        pulse = float(ac[lo:hi].max() / ac[0]) if ac[0] > 0 else 0.0
    # geometric over arithmetic mean of the power, per sounding frame (dB -> natural log)
    log_geo = low[:, active].mean(axis=0) * (np.log(10.0) / 10.0)
    flatness = float(np.exp(log_geo - np.log(total[active] / _N_LOW + 1e-30)).mean())
    level_range = loud - quiet
    prof = harm - harm.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(prof, axis=0) + 1e-9
    sim = (prof[:, 2:] * prof[:, :-2]).sum(axis=0) / (norms[2:] * norms[:-2])
    both = active[2:] & active[:-2]
    held = float(sim[both].mean()) if both.any() else 0.0
    return np.array([pause, level_std, syllable, flux, peak, peak_cv, centroid_std, tonal_share, entropy, held,
                     pulse, flatness, level_range])


@dataclass(frozen=True)
class _Logistic:
    """A logistic regression on standardised :func:`summaries` and the probability it must pass."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, x: np.ndarray) -> float:
        # clipped at +-3 standard deviations: a signal unlike any fitted (white noise) cannot push one
        # summary's weight to an extreme verdict
        z = np.clip((x - np.asarray(self.mean)) / np.asarray(self.scale), -Z_CLIP, Z_CLIP)
        return float(1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias))))


#: ``scripts/fit_nonmusic.py``'s output (means, scales, weights, bias, threshold). Speech against
#: music and drums; threshold 0.5, the floor (out-of-fold on the fit half, 0.15 % of music was over it).
SPEECH_MODEL = _Logistic(
    (0.0811, 7.15737, 0.32546, 1.55284, 2.68908, 0.2714, 0.57571, 0.12771, 0.9526, 0.8322, 0.44362, 0.08304, 18.96837),
    (0.14543, 3.50807, 0.13102, 0.491, 0.69028, 0.07635, 0.20238, 0.05183, 0.03082, 0.08397, 0.23797, 0.06628, 13.17196),
    (-0.0801, 0.7695, -0.1769, 0.6518, 0.5823, 1.0286, -0.5332, 0.3655, 0.5114, -1.7106, -2.5847, -0.6191, 1.2011),
    -7.1073, 0.5000,
)
#: Drums against music; threshold: the fit half's out-of-fold 99.4th percentile on music.
PERCUSSION_MODEL = _Logistic(
    (0.04391, 6.16144, 0.337, 1.44603, 2.68562, 0.25284, 0.57316, 0.12701, 0.9479, 0.84885, 0.49576, 0.0865, 14.96753),
    (0.09473, 2.47947, 0.13095, 0.40091, 0.73404, 0.06176, 0.20554, 0.05509, 0.03019, 0.0745, 0.20979, 0.07007, 7.96854),
    (0.8597, -0.128, 0.2796, 1.8667, -1.3377, -1.7621, -0.6751, -1.2166, -1.3496, 0.4242, 0.7652, 0.4397, 2.0335),
    -4.3699, 0.9517,
)


@dataclass(frozen=True)
class Verdict:
    """What a segment is, if not pitched music.

    Attributes
    ----------
    kind : str or None
        ``"speech"``, ``"percussion only"``, or ``None`` (music, or nothing to say).
    speech : float
        0-1, probability of speech against music.
    percussion : float
        0-1, probability of percussion alone against music.
    """

    kind: str | None
    speech: float
    percussion: float


def judge(mel_db: np.ndarray, key_feats: np.ndarray | None, tonal_share: float) -> Verdict:
    """Speech, percussion only, or music (``kind`` ``None``), from :func:`summaries`' inputs."""
    x = summaries(mel_db, key_feats, tonal_share)
    speech, percussion = SPEECH_MODEL.probability(x), PERCUSSION_MODEL.probability(x)
    if speech >= SPEECH_MODEL.threshold and x[NAMES.index("pulse")] < MAX_SPEECH_PULSE:
        return Verdict("speech", speech, percussion)
    if percussion >= PERCUSSION_MODEL.threshold:
        return Verdict("percussion only", speech, percussion)
    return Verdict(None, speech, percussion)
