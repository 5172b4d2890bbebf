"""Integrated loudness (LUFS) and loudness range per ITU-R BS.1770-4 / EBU Tech 3342.

The K-weighted mean square of each 100 ms segment is computed in the frequency domain (Parseval:
``sum |X(f)|^2 |H(f)|^2``) instead of running the two K-weighting biquads sample by sample: at the
source rate, for every channel, that is ~20× cheaper in numpy and agrees with time-domain meters
(pyloudnorm) within a few hundredths of a LU on programme material (``tests/features/test_loudness.py``).
Gating follows the standard: 400 ms blocks with 75 % overlap, absolute gate −70 LUFS, relative gate
−10 LU.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
SEGMENT_S = 0.1  # 100 ms: a quarter of a 400 ms gating block


@lru_cache(maxsize=16)
def k_weighting_power(sr: int, n: int) -> np.ndarray:
    """``|H(f)|^2`` of the BS.1770 K-weighting filter at the ``rfft`` bins of an ``n``-point frame.

    The two stages (a +4 dB high shelf near 1.7 kHz modelling the head, and the RLB high-pass near
    38 Hz) are designed for any sample rate with the bilinear transform, as libebur128 does.
    """
    # Stage 1: high shelf.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sr)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    b1 = np.array([vh + vb * k / q + k * k, 2.0 * (k * k - vh), vh - vb * k / q + k * k]) / a0
    a1 = np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0])
    # Stage 2: RLB high-pass.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sr)
    a0 = 1.0 + k / q + k * k
    b2 = np.array([1.0, -2.0, 1.0])
    a2 = np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0])
    z = np.exp(-2j * np.pi * np.fft.rfftfreq(n, d=1.0 / sr) / sr)
    powers = np.stack([z**0, z, z**2])

    def response(b: np.ndarray, a: np.ndarray) -> np.ndarray:
        return (b @ powers) / (a @ powers)

    h = response(b1, a1) * response(b2, a2)
    out = (np.abs(h) ** 2).astype(np.float64)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=16)
def _bin_weights(sr: int, n: int) -> torch.Tensor:
    """K-weighting per rfft bin, doubled for the bins that stand for two (one-sided spectrum), / n²,
    each repeated for the bin's real and imaginary part."""
    weights = np.array(k_weighting_power(sr, n))
    weights[1 : (n + 1) // 2] *= 2.0
    return torch.from_numpy((weights / n**2).astype(np.float32)).repeat_interleave(2)


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 channel weights: 1.0 for front channels, 1.41 for the surrounds of a 5.1 layout."""
    weights = np.ones(channels)
    if channels == 6:  # L R C LFE Ls Rs: the LFE is excluded, surrounds weighted +1.5 dB
        weights[3] = 0.0
        weights[4:] = 1.41
    return weights


class LoudnessMeter:
    """Streaming BS.1770-4 meter: feed blocks at the source rate, read loudness at the end.

    Parameters
    ----------
    sr : int
        Sample rate, Hz.
    channels : int
        Number of channels of the blocks that will be added.
    """

    def __init__(self, sr: int, channels: int) -> None:
        self.sr = sr
        self.channels = channels
        self._segment = max(1, int(round(SEGMENT_S * sr)))
        self._pending = np.zeros((channels, 0), np.float32)
        self._segments: list[float] = []  # channel-weighted mean square per 100 ms segment
        self._weights = channel_weights(channels)

    def add(self, block: np.ndarray) -> None:
        """Add samples ``[channels, n]`` (or ``[n]`` for mono)."""
        block = np.atleast_2d(block)
        data = np.concatenate([self._pending, block], axis=1) if self._pending.shape[1] else block
        whole = data.shape[1] // self._segment
        if whole:
            frames = data[:, : whole * self._segment].reshape(self.channels, whole, self._segment)
            frames = frames.astype(np.float32, copy=False)
            self._segments.extend(self._mean_square(frames).tolist())
        self._pending = np.array(data[:, whole * self._segment :], dtype=np.float32)

    def _mean_square(self, frames: np.ndarray) -> np.ndarray:
        # torch's FFT is ~3x numpy's here, and float32 is ample for a mean square in dB.
        with torch.inference_mode():
            spectrum = torch.fft.rfft(torch.from_numpy(frames), dim=-1)  # [channels, n_segments, n_bins]
            # re² and im² side by side: one product sums them with the weights (a sum over the
            # real/imaginary axis of size 2 costs more than the FFT)
            parts = torch.view_as_real(spectrum).flatten(-2)  # [channels, n_segments, 2 * n_bins]
            energy = parts.square() @ _bin_weights(self.sr, self._segment)  # [channels, n_segments]
        return np.tensordot(self._weights, energy.numpy().astype(np.float64), axes=1)

    def block_loudness(self, *, block_s: float = 0.4) -> np.ndarray:
        """Loudness of each gating block (``block_s`` long, hop 100 ms), LUFS."""
        per_block = int(round(block_s / SEGMENT_S))
        seg = np.asarray(self._segments)
        if seg.size < per_block:
            # Shorter than one block: measure what there is rather than nothing.
            if not seg.size:
                return np.zeros(0)
            blocks = np.array([seg.mean()])
        else:
            csum = np.concatenate([[0.0], np.cumsum(seg)])
            blocks = (csum[per_block:] - csum[:-per_block]) / per_block
        with np.errstate(divide="ignore"):
            return -0.691 + 10.0 * np.log10(blocks)

    def integrated_lufs(self) -> float:
        """Gated integrated loudness, LUFS (``-inf`` for silence)."""
        return _gated_mean(self.block_loudness(block_s=0.4), RELATIVE_GATE_LU)

    def loudness_range_lu(self) -> float:
        """EBU Tech 3342 loudness range: 10th–95th percentile of gated 3-s short-term loudness, LU."""
        short = self.block_loudness(block_s=3.0)
        short = short[short > ABSOLUTE_GATE_LUFS]
        if short.size < 2:
            return 0.0
        relative = _power_mean(short) - 20.0
        short = short[short > relative]
        if short.size < 2:
            return 0.0
        lo, hi = np.percentile(short, [10, 95])
        return float(hi - lo)

    def dynamic_complexity(self) -> float:
        """Mean absolute deviation of 3-s short-term loudness from the integrated loudness, LU."""
        integrated = self.integrated_lufs()
        short = self.block_loudness(block_s=3.0)
        short = short[short > ABSOLUTE_GATE_LUFS]
        if not math.isfinite(integrated) or not short.size:
            return 0.0
        return float(np.mean(np.abs(short - integrated)))


def _power_mean(lufs: np.ndarray) -> float:
    return float(-0.691 + 10.0 * np.log10(np.mean(10.0 ** ((lufs + 0.691) / 10.0))))


def _gated_mean(block_lufs: np.ndarray, relative_gate: float) -> float:
    gated = block_lufs[block_lufs > ABSOLUTE_GATE_LUFS]
    if not gated.size:
        return float("-inf")
    threshold = _power_mean(gated) + relative_gate
    gated = gated[gated > threshold]
    return _power_mean(gated) if gated.size else float("-inf")


def loudness(y: np.ndarray, sr: int) -> float:
    """Integrated loudness of a signal, LUFS (ITU-R BS.1770-4).

    Parameters
    ----------
    y : np.ndarray [n] or [channels, n]
        Samples in [-1, 1] at the source rate (downmixing or resampling first changes the result).
    sr : int
        Sample rate, Hz.

    Returns
    -------
    float
        LUFS; ``-inf`` for digital silence.
    """
    y = np.atleast_2d(np.asarray(y, dtype=np.float32))
    meter = LoudnessMeter(sr, y.shape[0])
    meter.add(y)
    return meter.integrated_lufs()
