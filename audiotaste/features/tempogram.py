"""The tempo model's input: onset envelopes, spectral levels and the harmonic change, and their
tempograms on a log-tempo axis (autocorrelation and Fourier).

See ``rhythm`` for how the tempo is read from them. Below ``_models`` (which checks a model's input
layout against ``N_MODEL_CHANNELS``): this module imports no model code.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from audiotaste.features.pitch import fold_pitch_classes, semitone_spectrogram
from audiotaste.features.spectrum import Spectrum

MIN_BPM = 30.0
MAX_BPM = 300.0


#: The log-tempo axis of the tempo model's output: 24 bins per octave from 30 BPM (to ~317 BPM).
BINS_PER_OCTAVE = 24
N_TEMPO_BINS = 84
#: The tempogram features extend two octaves lower (to 7.5 BPM), where bar-level periodicities show
#: whether a candidate beat groups in twos, threes or fours.
N_LOW_BINS = 48
N_FEATURE_BINS = N_LOW_BINS + N_TEMPO_BINS
#: Input channels of the tempo model: 6 onset bands and the harmonic change x (autocorrelation,
#: Fourier), then the spectral repetition's two (``model_input``).
N_MODEL_CHANNELS = 16
#: Mel band groups (of 128) whose onsets are tracked separately: <260 Hz (kick, bass), 260 Hz-1 kHz,
#: 1-4 kHz (snare, chords), >4 kHz (hats, cymbals).
_BAND_EDGES = (0, 10, 38, 90, 128)
#: Tempogram analysis window and hop, seconds.
_WINDOW_S = 8.0


def tempo_inputs(mel_db: np.ndarray, spectrum: Spectrum | None) -> tuple[np.ndarray, np.ndarray]:
    """The per-frame signals the tempo model's input is computed from.

    Returns
    -------
    bands : np.ndarray [7, n_frames]
        ``onset_bands``, then ``harmonic_change`` (zeros without a spectrum).
    levels : np.ndarray [32, n_frames]
        ``spectral_levels``.
    """
    bands = onset_bands(mel_db)
    change = np.zeros(bands.shape[1], np.float32)
    if spectrum is not None:
        computed = harmonic_change(spectrum)[: change.size]
        change[: computed.size] = computed
    return np.vstack([bands, change[None]]), spectral_levels(mel_db)


def harmonic_change(spectrum: Spectrum, *, span: int = 2) -> np.ndarray:
    """How much the chord changes at each frame: 1 - cosine between the chroma ``span`` frames before
    and after (each a 5-frame average), from 131 Hz to 2 kHz.

    Chord changes mark beats and bars in music whose onsets are all alike (legato strings, pads).

    Returns
    -------
    np.ndarray [n_frames], float32, in [0, 1]
    """
    semis = semitone_spectrogram(spectrum, midi_lo=48, midi_hi=96)
    out = np.zeros(spectrum.n_frames, dtype=np.float32)
    peak = float(semis.max()) if semis.size else 0.0
    if peak <= 0 or not np.isfinite(peak) or semis.shape[1] <= 2 * span:
        return out
    chroma = _moving_average(fold_pitch_classes(np.log1p(100.0 * semis / peak), 48), 5)
    chroma /= np.maximum(np.linalg.norm(chroma, axis=0, keepdims=True), 1e-9)
    similarity = (chroma[:, 2 * span :] * chroma[:, : -2 * span]).sum(axis=0)
    out[span : spectrum.n_frames - span] = np.clip(1.0 - similarity, 0.0, 1.0)
    return out


def tempo_grid() -> np.ndarray:
    """Centre tempo of each output bin of the tempo model, BPM [N_TEMPO_BINS]."""
    return MIN_BPM * 2.0 ** (np.arange(N_TEMPO_BINS) / BINS_PER_OCTAVE)


def feature_grid() -> np.ndarray:
    """Centre tempo of each bin of the tempogram features, BPM [N_FEATURE_BINS]."""
    return MIN_BPM * 2.0 ** ((np.arange(N_FEATURE_BINS) - N_LOW_BINS) / BINS_PER_OCTAVE)


def onset_bands(mel_db: np.ndarray) -> np.ndarray:
    """Onset strengths of four frequency bands, of the whole spectrum, and of the total level.

    The band envelopes are dB spectral flux (every band counts equally, however quiet); the last one is
    the rise of the frame's total power in dB, which follows the loud accents (kick, snare) that a
    listener's tap locks to.

    Returns
    -------
    np.ndarray [6, n_frames], float32
    """
    mel_db = np.asarray(mel_db, dtype=np.float32)
    n_mels, n = mel_db.shape
    out = np.zeros((len(_BAND_EDGES) + 1, n), dtype=np.float32)
    if n < 2 or n_mels == 0:
        return out
    rise = np.maximum(np.diff(mel_db, axis=1), 0.0)
    edges = [int(round(e * n_mels / 128)) for e in _BAND_EDGES]
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        out[i, 1:] = rise[lo:max(hi, lo + 1)].mean(axis=0)
    out[len(edges) - 1, 1:] = rise.mean(axis=0)
    peak = float(mel_db.max())
    power = np.exp((mel_db - peak) * np.float32(np.log(10.0) / 10.0)).sum(axis=0)
    level = 10.0 * np.log10(power + 1e-10)
    out[len(edges), 1:] = np.maximum(np.diff(level), 0.0)
    return out


#: Mel bands averaged into one ``spectral_levels`` row.
_LEVEL_GROUP = 4


def spectral_levels(mel_db: np.ndarray) -> np.ndarray:
    """Level of 32 narrow mel band groups over time, dB (the spectral pattern, not its onsets).

    A drumless 6/8 arpeggio has equally strong onsets on every eighth; what repeats every three
    eighths is *which* notes sound. The autocorrelation of these levels (``repetition_features``)
    shows that repetition, which the onset envelopes cannot.

    Returns
    -------
    np.ndarray [n_mels // 4, n_frames], float32
    """
    mel_db = np.asarray(mel_db, dtype=np.float32)
    n = mel_db.shape[0] // _LEVEL_GROUP * _LEVEL_GROUP
    return mel_db[:n].reshape(-1, _LEVEL_GROUP, mel_db.shape[1]).mean(axis=1)


def repetition_features(levels: np.ndarray, fps: float) -> np.ndarray:
    """How much the spectral pattern repeats at each tempo's period: [2, N_FEATURE_BINS].

    Row 0: the autocorrelation of the band levels (each minus its ~1.5 s moving average), summed
    over bands and normalised at lag 0; row 1: their Fourier magnitudes averaged over bands and 8 s
    windows. Both on the log-tempo grid as in ``tempogram_features``.
    """
    levels = np.asarray(levels, dtype=np.float32)
    width = max(1, int(round(1.5 * fps)))
    if levels.shape[1] >= width:
        levels = levels - _moving_average(levels, width)
    acf_rows, dft_rows = _periodicity(levels, fps)
    acf = acf_rows.sum(axis=0)
    acf = acf / acf[0] if acf[0] > 0 else acf
    fine = np.stack([_on_grid(acf[None], fps)[0], dft_rows.mean(axis=0)])
    return fine.reshape(2, N_FEATURE_BINS, _OVERSAMPLE).max(axis=2).astype(np.float32)


def _moving_average(rows: np.ndarray, width: int) -> np.ndarray:
    """Centred ``width``-frame moving average of each row (zeros beyond the ends), float32."""
    kernel = np.ones(width, dtype=np.float32) / width
    return np.stack([np.convolve(row, kernel, mode="same") for row in rows])


def tempogram_features(bands: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation and Fourier tempograms of each onset band, on the log-tempo grid.

    The autocorrelation peaks at a pulse's period and its multiples (slower tempi), the Fourier
    tempogram at its frequency and its harmonics (faster tempi); together they tell a tempo from its
    octaves. The Fourier magnitudes are averaged over 8 s windows; both are max-pooled onto
    ``feature_grid()``.

    Parameters
    ----------
    bands : np.ndarray [n_bands, n_frames]
        Onset strengths (``onset_bands``).
    fps : float
        Frame rate, Hz.

    Returns
    -------
    features : np.ndarray [2 * n_bands, N_FEATURE_BINS], float32
        Normalised autocorrelations, then Fourier magnitudes.
    acf : np.ndarray [n_lags]
        Autocorrelation summed over bands (for refining the period), per lag in frames, up to 8.5 s.
    """
    nov = np.stack([_novelty(b, fps) for b in bands]).astype(np.float32)  # [C, T]
    acf, dft_fine = _periodicity(nov, fps)
    zero = acf[:, :1]
    acf_norm = np.divide(acf, zero, out=np.zeros_like(acf), where=zero > 0)
    fine = np.concatenate([_on_grid(acf_norm, fps), dft_fine])  # [2C, fine]
    feats = fine.reshape(fine.shape[0], N_FEATURE_BINS, _OVERSAMPLE).max(axis=2)
    return feats.astype(np.float32), acf.sum(axis=0)


def _periodicity(x: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Raw autocorrelation per row [C, n_lags] (whole signal) and Fourier magnitudes on the fine
    grid [C, fine] (8 s Hann windows, normalised by the window's energy, averaged over windows)."""
    win = max(8, int(round(_WINDOW_S * fps)))
    n_lags = int(np.ceil(60.0 * fps / feature_grid_fine()[0])) + 2
    if x.shape[1] < max(win, n_lags):
        x = np.pad(x, ((0, 0), (0, max(win, n_lags) - x.shape[1])))
    starts = np.arange(0, x.shape[1] - win + 1, max(1, win // 2))
    segs = np.lib.stride_tricks.sliding_window_view(x, win, axis=1)[:, starts]  # [C, W, win]
    segs = segs - segs.mean(axis=2, keepdims=True)

    # one autocorrelation over the whole signal (a tempo-stable track gains nothing from windowing it)
    acf = _raw_autocorrelation(x - x.mean(axis=1, keepdims=True), n_lags)  # [C, n_lags]

    cos, sin = _fourier_basis(win, round(fps, 6))
    tapered = (segs * np.hanning(win).astype(np.float32)).reshape(-1, win)  # [C*W, win]
    # torch, not numpy, for the products: numpy's BLAS spreads even small products over every core,
    # which on a busy machine costs several times the single-thread time
    with torch.inference_mode():
        tt = torch.from_numpy(np.ascontiguousarray(tapered, dtype=np.float32))
        re, im = tt @ torch.from_numpy(cos), tt @ torch.from_numpy(sin)
        mags = torch.sqrt(re**2 + im**2).numpy().reshape(segs.shape[0], segs.shape[1], -1)
    energy = np.sqrt((tapered**2).sum(axis=1) * win).reshape(segs.shape[0], segs.shape[1], 1)
    dft_fine = np.divide(mags, energy, out=np.zeros_like(mags), where=energy > 0).mean(axis=1)
    return acf, dft_fine


def _on_grid(acf_norm: np.ndarray, fps: float) -> np.ndarray:
    """Normalised autocorrelations [C, n_lags] interpolated at the fine grid's lags: [C, fine]."""
    n_lags = acf_norm.shape[1]
    lags = np.minimum(60.0 * fps / feature_grid_fine(), n_lags - 1.001)
    i0 = lags.astype(int)
    frac = (lags - i0).astype(np.float32)
    return acf_norm[:, i0] * (1 - frac) + acf_norm[:, i0 + 1] * frac


_OVERSAMPLE = 2


def feature_grid_fine() -> np.ndarray:
    """The feature grid oversampled ``_OVERSAMPLE`` times (max-pooled back onto it), BPM."""
    steps = np.arange(N_FEATURE_BINS * _OVERSAMPLE) - (_OVERSAMPLE - 1) / 2
    return MIN_BPM * 2.0 ** ((steps / _OVERSAMPLE - N_LOW_BINS) / BINS_PER_OCTAVE)


@lru_cache(maxsize=4)
def _fourier_basis(win: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    phase = 2 * np.pi * np.outer(np.arange(win), feature_grid_fine() / 60.0 / fps)  # [win, fine]
    return np.cos(phase).astype(np.float32), np.sin(phase).astype(np.float32)


def model_input(bands: np.ndarray, fps: float, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tempo model's input and the summed onset autocorrelation (``tempogram_features``).

    Returns
    -------
    x : np.ndarray [N_MODEL_CHANNELS, N_FEATURE_BINS], float32
        The onset tempograms, then the ``repetition_features`` of ``levels``.
    acf : np.ndarray [n_lags]
    """
    feats, acf = tempogram_features(bands, fps)
    return np.concatenate([feats, repetition_features(levels, fps)]), acf


def _novelty(env: np.ndarray, fps: float) -> np.ndarray:
    """Onset strength minus its local mean (~1 s), rectified: removes slow loudness swells."""
    width = min(env.size, max(1, int(round(fps))))
    local = np.convolve(env, np.ones(width) / width, mode="same")
    out = np.maximum(env - local, 0.0)
    # a light blur so that a period falling between two frames still gives one sharp ACF peak
    blur = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
    out = np.convolve(out, blur / blur.sum(), mode="same")[: env.size]
    peak = out.max() if out.size else 0.0
    return out / peak if peak > 0 else out


def _raw_autocorrelation(rows: np.ndarray, n_lags: int) -> np.ndarray:
    """Linear (not circular) autocorrelation of each row [C, n] at lags 0..n_lags-1: [C, n_lags].

    In torch, zero-padded to a 5-smooth length: numpy's FFT of the 2n-point padding runs 3-5x
    slower, as 2n is often a product of large primes.
    """
    n = rows.shape[1]
    size = _smooth_length(2 * n)
    with torch.inference_mode():
        spec = torch.fft.rfft(torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)), n=size, dim=1)
        acf = torch.fft.irfft(spec.real.square() + spec.imag.square(), n=size, dim=1)
        return acf[:, : min(n_lags, n)].numpy().astype(np.float64)


def _smooth_length(n: int) -> int:
    """The smallest integer >= ``n`` with no prime factor above 5 (a fast FFT size).

    ``scipy.fft.next_fast_len(n, real=True)`` gives the same (tested), but importing ``scipy.fft``
    adds ~0.2 s to a cold ``audiotaste analyze``.
    """
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best
