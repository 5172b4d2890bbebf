"""Short-time spectra computed once per track in torch, and the mel front end derived from them.

Everything downstream (onsets, tempo, chroma, descriptors, tagger input) is derived from one STFT, so a
track is transformed once. The mel filterbank reproduces librosa's Slaney-style filterbank in numpy
(``tests/features/test_spectrum.py`` checks it against ``librosa.filters.mel``) so that importing
audiotaste never pays for librosa's numba start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

#: The analysis front end shared by every feature and the default tagger.
ANALYSIS_SR = 22050  # Hz
N_FFT = 2048  # samples (~93 ms at 22.05 kHz)
HOP_LENGTH = 512  # samples (~23 ms)
N_MELS = 128
#: Frames per torch.stft call: bounds memory on long signals, and 128 frames (a 0.5 MB chunk of
#: power) stay in cache while they are squared and transposed; 512 took ~30 % longer.
STFT_CHUNK_FRAMES = 128


@dataclass(frozen=True)
class Spectrum:
    """Power spectrogram of one signal with the parameters needed to interpret it.

    Attributes
    ----------
    power : np.ndarray [n_fft // 2 + 1, n_frames], float32
        ``|STFT|**2`` of a Hann-windowed, centre-padded (zeros) STFT, as ``librosa.stft``.
    sr : int
        Sample rate, Hz.
    n_fft : int
        FFT size, samples.
    hop_length : int
        Hop between frames, samples.
    """

    power: np.ndarray
    sr: int
    n_fft: int
    hop_length: int

    @property
    def n_frames(self) -> int:
        return int(self.power.shape[1])

    @property
    def frame_rate(self) -> float:
        """Frames per second, Hz."""
        return self.sr / self.hop_length

    def frame_times(self) -> np.ndarray:
        """Centre time of each frame, seconds."""
        return np.arange(self.n_frames) * (self.hop_length / self.sr)

    def frequencies(self) -> np.ndarray:
        """Centre frequency of each bin, Hz."""
        return np.linspace(0.0, self.sr / 2.0, self.power.shape[0])


def stft_power(
    y: np.ndarray, *, sr: int = ANALYSIS_SR, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH
) -> Spectrum:
    """Power STFT of a mono signal, computed with ``torch.stft``.

    Parameters
    ----------
    y : np.ndarray [n_samples]
        Mono signal, float.
    sr : int
        Sample rate, Hz.
    n_fft, hop_length : int
        Window and hop, samples. The window is a periodic Hann of length ``n_fft`` and the signal is
        zero-padded by ``n_fft // 2`` on both sides, as ``librosa.stft(center=True)``.

    Returns
    -------
    Spectrum
    """
    signal = np.ascontiguousarray(y, dtype=np.float32)
    pad = n_fft // 2
    padded = np.zeros(signal.size + 2 * pad, np.float32)  # centre padding with zeros, as librosa
    padded[pad : pad + signal.size] = signal
    n_frames = 1 + max(0, padded.size - n_fft) // hop_length
    power = np.empty((n_fft // 2 + 1, n_frames), np.float32)
    window = _hann(n_fft)
    # Frames are transformed in chunks so the complex STFT of a long segment never sits in memory.
    chunk = max(1, STFT_CHUNK_FRAMES)
    with torch.inference_mode():
        out = torch.from_numpy(power)
        for first in range(0, n_frames, chunk):
            last = min(n_frames, first + chunk)
            piece = torch.from_numpy(padded[first * hop_length : (last - 1) * hop_length + n_fft])
            spec = torch.stft(
                piece, n_fft=n_fft, hop_length=hop_length, window=window, center=False,
                return_complex=True,
            ).T  # [last-first, n_fft//2+1]: torch.stft's memory order, so the squares read in order
            # re² + im² in place (same rounding as a fresh sum), one transposed copy into ``power``
            out[:, first:last] = spec.real.square().add_(spec.imag.square()).T
    return Spectrum(power=power, sr=sr, n_fft=n_fft, hop_length=hop_length)


@lru_cache(maxsize=8)
def _hann(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float32)


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney's auditory toolbox mel scale: linear below 1 kHz, logarithmic above."""
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_region = freq >= min_log_hz
    mels[log_region] = min_log_mel + np.log(freq[log_region] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_region = mels >= min_log_mel
    freqs[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    return freqs


@lru_cache(maxsize=16)
def mel_filterbank(
    *, sr: int = ANALYSIS_SR, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """Slaney-normalised triangular mel filterbank, identical to ``librosa.filters.mel`` defaults.

    Returns
    -------
    np.ndarray [n_mels, n_fft // 2 + 1], float32
    """
    fmax = sr / 2.0 if fmax is None else fmax
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array([fmin]))[0], _hz_to_mel(np.array([fmax]))[0], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, None]
    out = weights.astype(np.float32)
    out.setflags(write=False)  # cached: a caller's in-place change would reach every later caller
    return out


@lru_cache(maxsize=16)
def _sparse_filterbank(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None
) -> torch.Tensor:
    """``mel_filterbank`` as a sparse torch tensor: each mel band spans at most a few dozen of the
    1025 bins (2,018 non-zeros of 131,200 at the defaults), so the product is ~6x cheaper."""
    dense = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return torch.tensor(dense).to_sparse()


def power_to_db(
    power: np.ndarray, *, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0
) -> np.ndarray:
    """``10 * log10(max(power, amin) / ref)``, optionally floored ``top_db`` below the peak (dB)."""
    db = 10.0 * np.log10(np.maximum(power, amin)) - 10.0 * np.log10(max(amin, ref))
    if top_db is not None and db.size:
        db = np.maximum(db, db.max() - top_db)
    return db.astype(np.float32, copy=False)


def melspectrogram(
    y: np.ndarray | None = None,
    sr: int = ANALYSIS_SR,
    *,
    spectrum: Spectrum | None = None,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    n_mels: int = N_MELS,
    fmin: float = 0.0,
    fmax: float | None = None,
    to_db: bool = True,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """Mel spectrogram (power, or dB with ``to_db``) matching ``librosa.feature.melspectrogram``.

    Parameters
    ----------
    y : np.ndarray [n_samples], optional
        Mono signal. Either ``y`` or ``spectrum`` is required.
    sr : int
        Sample rate of ``y``, Hz.
    spectrum : Spectrum, optional
        A precomputed power STFT; when given, ``y``, ``sr``, ``n_fft`` and ``hop_length`` are taken
        from it.
    n_mels : int
        Number of mel bands.
    fmin, fmax : float
        Lowest and highest band edge, Hz (``fmax`` defaults to ``sr / 2``).
    to_db : bool
        Return ``power_to_db(S, ref=1.0, top_db=top_db)`` instead of power.

    Returns
    -------
    np.ndarray [n_mels, n_frames], float32
    """
    if spectrum is None:
        if y is None:
            raise TypeError("melspectrogram needs y or spectrum")
        spectrum = stft_power(y, sr=sr, n_fft=n_fft, hop_length=hop_length)
    fb = _sparse_filterbank(spectrum.sr, spectrum.n_fft, n_mels, fmin, fmax)
    # torch's product honours torch.set_num_threads (a worker's one thread); numpy's BLAS spawns its
    # own thread pool, which costs 2x CPU on a busy machine.
    with torch.inference_mode():
        mel = torch.sparse.mm(fb, torch.from_numpy(spectrum.power)).numpy()
    return power_to_db(mel, top_db=top_db) if to_db else mel.astype(np.float32, copy=False)
