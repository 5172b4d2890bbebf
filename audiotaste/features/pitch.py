"""Pitch analysis shared by the key and the tempo: tuning, the semitone spectrogram, pitch classes,
and the pitch-class summaries the key model reads (``key_inputs``, ``summarise_key_frames``).

Below ``tonal`` (the key estimate) and ``rhythm`` (the harmonic change), and below ``_models``, which
checks a model's feature layout against ``N_KEY_ROWS``: this module imports no model code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soxr

from audiotaste.features.spectrum import Spectrum, stft_power

#: Pitch range of the key features: MIDI 28 (E1, 41 Hz) to 99 (D#7, 2489 Hz), in three 2-octave
#: registers (bass, middle, treble).
_MIDI_LO, _MIDI_HI = 28, 100
_KEY_SR = 5512.5  # Hz; 2.7 kHz of bandwidth is all the pitch range needs
_KEY_N_FFT, _KEY_HOP = 2048, 1024  # 2.7 Hz bins (a semitone at 55 Hz is 3.3 Hz), 0.19 s hop
#: The opening and the ending: 15 % of the frames (as in training: corpus clips average 17 s), but
#: at most 2 s, so that a piece of 13 s or more and the same piece looped give the same features. A
#: share alone made the key of a looped piece drift (issue 17): its "opening" took in the whole piece.
_EDGE_FRACTION = 0.15
_EDGE_S = 2.0
#: Rows of ``summarise_key_frames``: 10 pitch-class blocks, then six 12 x 12 matrices.
N_KEY_ROWS = 10 + 6 * 12
#: What one key model reads (8 blocks and 3 matrices), under each of the two readings of the bass:
#: the strongest note of the bass register, and the lowest prominent note wherever it lies.
KEY_ROWS = {
    "strongest": (*range(8), *range(10, 46)),
    "lowest": (0, 1, 2, 3, 4, 8, 6, 9, *range(46, 82)),
}
N_KEY_BLOCKS, N_KEY_MATRICES = 8, 3
#: Frames (0.19 s each) between a bass note and the pitch classes it is paired with in the third
#: matrix: about one chord later.
_LAG_FRAMES = 5


def estimate_tuning(spectrum: Spectrum, *, midi_lo: int = _MIDI_LO, midi_hi: int = _MIDI_HI) -> float:
    """Deviation of the music's tuning from A4 = 440 Hz, semitones in [-0.5, 0.5).

    The magnitude-weighted circular mean of the distance of every spectral peak (frequency refined by
    parabolic interpolation of the log magnitude) to the nearest equal-tempered semitone.
    """
    freqs_hz = spectrum.sr / spectrum.n_fft
    lo = max(1, int(440.0 * 2 ** ((midi_lo - 69) / 12) / freqs_hz))
    hi = min(spectrum.power.shape[0] - 1, int(440.0 * 2 ** ((midi_hi - 69) / 12) / freqs_hz) + 1)
    if hi - lo < 3:
        return 0.0
    step = max(1, spectrum.n_frames // 200)  # tuning does not drift: ~200 frames are plenty
    logm = 0.5 * np.log(spectrum.power[lo - 1 : hi + 1, ::step] + 1e-12)  # [bins + 2, frames]
    a, b, c = logm[:-2], logm[1:-1], logm[2:]
    floor = logm.max(axis=0, keepdims=True) - np.log(30.0)  # peaks within ~30 dB of the frame's top
    peak = (b > a) & (b >= c) & (b > floor)
    if not peak.any():
        return 0.0
    denom = a - 2 * b + c
    delta = np.divide(0.5 * (a - c), denom, out=np.zeros_like(b), where=denom < 0)
    k, _ = np.nonzero(peak)
    f = (lo + k + np.clip(delta[peak], -0.5, 0.5)) * freqs_hz
    dev = 2 * np.pi * (12.0 * np.log2(f / 440.0))
    w = np.exp(b[peak])
    return float(np.arctan2((w * np.sin(dev)).sum(), (w * np.cos(dev)).sum()) / (2 * np.pi))


@lru_cache(maxsize=32)
def _semitone_map(
    sr: float, n_fft: int, midi_lo: int, midi_hi: int, tuning: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Triangular semitone filters, one semitone wide on each side, as per-bin (index, weight) pairs.

    Each FFT bin is shared between the two semitone centres its frequency falls between (so slightly
    detuned partials still count); bins are sorted by frequency, so the lower centre's index never
    decreases, which lets ``semitone_spectrogram`` sum runs of bins with ``np.add.reduceat``.

    Returns
    -------
    bins : FFT bins inside the range; lower : index of the lower centre (may be -1);
    w_lower, w_upper : weights towards the lower and the upper centre (0 outside the range).
    """
    freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    pos = np.full(freqs.size, -1e9)
    pos[1:] = 69.0 + 12.0 * np.log2(freqs[1:] / 440.0) - midi_lo - tuning  # in semitones above lo
    n = midi_hi - midi_lo
    bins = np.flatnonzero((pos > -1.0) & (pos < n))
    lower = np.floor(pos[bins]).astype(np.int64)
    frac = (pos[bins] - lower).astype(np.float32)
    w_lower = np.where(lower >= 0, 1.0 - frac, 0.0).astype(np.float32)
    w_upper = np.where(lower + 1 < n, frac, 0.0).astype(np.float32)
    for a in (bins, lower, w_lower, w_upper):
        a.setflags(write=False)
    return bins, lower, w_lower, w_upper


def semitone_spectrogram(
    spectrum: Spectrum, *, midi_lo: int = _MIDI_LO, midi_hi: int = _MIDI_HI, tuning: float = 0.0
) -> np.ndarray:
    """Magnitude per semitone, MIDI ``midi_lo`` to ``midi_hi - 1``.

    Parameters
    ----------
    tuning : float
        Offset of the semitone centres from A4 = 440 Hz tuning, semitones (``estimate_tuning``).

    Returns
    -------
    np.ndarray [midi_hi - midi_lo, n_frames], float32
    """
    tuning = round(float(tuning), 2)  # 1-cent steps keep the filterbank cache small
    bins, lower, w_lower, w_upper = _semitone_map(float(spectrum.sr), spectrum.n_fft, midi_lo, midi_hi, tuning)
    n = midi_hi - midi_lo
    out = np.zeros((n + 2, spectrum.n_frames), dtype=np.float32)  # rows 0 and n + 1: outside the range
    if bins.size:
        mag = np.sqrt(spectrum.power[bins])  # [n_bins_used, n_frames]
        runs, starts = np.unique(lower, return_index=True)
        out[runs + 1] += np.add.reduceat(mag * w_lower[:, None], starts, axis=0)
        out[runs + 2] += np.add.reduceat(mag * w_upper[:, None], starts, axis=0)
    return out[1 : n + 1]


def fold_pitch_classes(semis: np.ndarray, midi_lo: int) -> np.ndarray:
    """Sum a semitone spectrogram [n_semitones, n_frames] (MIDI ``midi_lo`` upwards) onto 12 pitch
    classes, C first: [12, n_frames]."""
    out = np.zeros((12, semis.shape[1]), dtype=np.float32)
    for i in range(semis.shape[0]):
        out[(midi_lo + i) % 12] += semis[i]
    return out


def key_inputs(
    y: np.ndarray | None, sr: float, *, spectrum: Spectrum | None = None
) -> tuple[np.ndarray, float] | None:
    """Pitch-class summaries a key is read from, and the tonal share; ``None`` for silence.

    ``summarise_key_frames`` of the whole of ``key_frames``: see there for the rows.

    Returns
    -------
    features : np.ndarray [N_KEY_ROWS, 12], float32
    tonal_share : float
        0-1.
    """
    frames = key_frames(y, sr, spectrum=spectrum)
    return None if frames is None else (summarise_key_frames(frames), frames.tonal_share)


@dataclass(frozen=True)
class KeyFrames:
    """Frame-wise pitch classes the key summaries are made of (``key_frames``).

    Attributes
    ----------
    registers : np.ndarray [3, 12, n_frames], float32
        Chroma of the bass (E1-D#3), middle and treble registers, tonal part only.
    lowest : np.ndarray [12, n_frames], float32
        The lowest prominent note of each frame (``lowest_notes``).
    tonal_share : float
        0-1: the part of the log-compressed semitone spectrum that stands above its broadband floor
        (tones 0.1-0.7; noise, clicks and drums under 0.06).
    fps : float
        Frames per second.
    """

    registers: np.ndarray
    lowest: np.ndarray
    tonal_share: float
    fps: float

    @property
    def n_frames(self) -> int:
        return int(self.lowest.shape[1])


def key_frames(y: np.ndarray | None, sr: float, *, spectrum: Spectrum | None = None) -> KeyFrames | None:
    """Frame-wise register chromas and bass line of a recording; ``None`` for silence.

    Parameters
    ----------
    y : np.ndarray [n_samples], optional
        Mono signal; resampled to 5.5 kHz for a 2.7 Hz-resolution spectrum (0.19-s frames).
    sr : float
        Sample rate of ``y``, Hz.
    spectrum : Spectrum, optional
        Precomputed power STFT, used only when ``y`` is not given.
    """
    if y is not None:
        y = np.asarray(y, dtype=np.float32)
        low = soxr.resample(y, sr, _KEY_SR, quality="HQ") if y.size else y
        spectrum = stft_power(low, sr=int(_KEY_SR), n_fft=_KEY_N_FFT, hop_length=_KEY_HOP)
        spectrum = Spectrum(spectrum.power, _KEY_SR, _KEY_N_FFT, _KEY_HOP)  # type: ignore[arg-type]
    if spectrum is None:
        raise TypeError("key_frames needs y or spectrum")
    semis = semitone_spectrogram(spectrum, tuning=estimate_tuning(spectrum))
    peak = float(semis.max()) if semis.size else 0.0
    if not np.isfinite(peak) or peak < 1e-4:  # ~ -80 dB re a full-scale sine: nothing pitched
        return None
    # log compression: quiet inner voices count, one loud note does not dominate
    semis = np.log1p(100.0 * semis / peak)
    total = float(semis.sum())
    # keep what stands above its neighbourhood (+-6 semitones): tones, not the broadband floor of
    # drums and noise
    padded = np.pad(semis, ((7, 6), (0, 0)), mode="edge")
    padded[0] = 0.0
    cumulative = np.cumsum(padded, axis=0)
    local = (cumulative[13:] - cumulative[:-13]) / 13.0  # 13-semitone moving average
    semis = np.maximum(semis - local, 0.0)
    registers = np.stack([fold_pitch_classes(semis[i : i + 24], _MIDI_LO + i) for i in (0, 24, 48)])
    return KeyFrames(registers.astype(np.float32), lowest_notes(semis, _MIDI_LO),
                     float(semis.sum()) / total if total > 0 else 0.0, spectrum.sr / spectrum.hop_length)


def summarise_key_frames(frames: KeyFrames, *, start: int = 0, stop: int | None = None) -> np.ndarray:
    """The pitch-class summaries of frames ``start:stop`` that the key model reads.

    Every summary is a mean over frames or a matrix normalised to sum 1 (the bass line's moves and
    what follows each bass note are read round the loop), and the opening and ending last at most
    2 s: a piece looped gives the same summaries as the piece (up to the framing). Any
    window of a recording is summarised as that window alone would be (the key model is trained on
    random windows of its clips).

    The bass is read two ways: the strongest note of the bass register (E1-D#3; robust to pads and
    melodies above a quiet bass) and the lowest prominent note wherever it lies (``lowest_notes``;
    a chorale's bass voice sits mostly above D3). The key model's members each read one of them
    (``KEY_ROWS``).

    Rows 0-9, pitch-class blocks (C first, each normalised to sum 1): mean chroma of the bass,
    middle and treble registers; the chroma of the opening and of the ending (tonics are stated
    there); the strongest bass of the ending (the final cadence's root); the share of frames in
    which each pitch class is prominent (loudness-independent); the strongest bass of the opening
    (a piece mostly starts over its tonic, and an excerpt that stops mid-phrase has no final
    cadence); the lowest bass of the ending and of the opening.

    Rows 10-81, six 12 x 12 matrices, each summing to 1 (rows: a bass pitch class), first for the
    strongest then for the lowest bass: the pitch classes sounding over each bass note (I over 1
    and V over 5 tell a tonic from a dominant that the totals confuse); the bass's moves from one
    held note to the next (cadences: 5 -> 1); the pitch classes sounding about a second after each
    bass note (V, then I).

    Returns
    -------
    np.ndarray [N_KEY_ROWS, 12], float32
    """
    regs = frames.registers[:, :, start:stop]
    lowest = frames.lowest[:, start:stop]
    n = lowest.shape[1]
    if n == 0:
        raise ValueError("summarise_key_frames needs at least one frame")
    edge = max(1, int(round(min(_EDGE_FRACTION * n, _EDGE_S * frames.fps))))
    full = regs[0] + regs[1] + regs[2]
    frame_max = full.max(axis=0, keepdims=True)
    prominent = (full >= 0.5 * frame_max) & (frame_max > 0)
    blocks = [
        regs[0].mean(axis=1), regs[1].mean(axis=1), regs[2].mean(axis=1),
        full[:, :edge].mean(axis=1), full[:, -edge:].mean(axis=1), regs[0][:, -edge:].mean(axis=1),
        prominent.mean(axis=1), regs[0][:, :edge].mean(axis=1),
        lowest[:, -edge:].mean(axis=1), lowest[:, :edge].mean(axis=1),
    ]
    feats = np.stack(blocks).astype(np.float32)
    totals = feats.sum(axis=1, keepdims=True)
    feats = np.divide(feats, totals, out=np.full_like(feats, 1.0 / 12), where=totals > 0)
    strongest = np.zeros_like(regs[0])
    strongest[regs[0].argmax(axis=0), np.arange(n)] = regs[0].max(axis=0)
    shares = full / np.maximum(full.sum(axis=0, keepdims=True), 1e-9)
    matrices = []
    for bass, held in ((strongest, regs[0]), (lowest, lowest)):
        later = bass @ np.roll(shares, -_LAG_FRAMES, axis=1).T  # round the loop, as bass_transitions
        matrices += [bass @ shares.T, bass_transitions(held), later]
    return np.concatenate([feats] + [_unit_sum(m) for m in matrices])


def lowest_notes(semis: np.ndarray, midi_lo: int, *, share: float = 0.5) -> np.ndarray:
    """The bass line: each frame's lowest prominent note, folded onto pitch classes.

    A note is prominent when it is a peak of the semitone spectrum reaching ``share`` of the frame's
    strongest semitone; the lowest one is the bass wherever it lies (a chorale's bass voice sits
    mostly above D3, out of a fixed bass register).

    Parameters
    ----------
    semis : np.ndarray [n_semitones, n_frames]
        Non-negative magnitude per semitone, MIDI ``midi_lo`` upwards.

    Returns
    -------
    np.ndarray [12, n_frames], float32
        The bass note's magnitude at its pitch class, zero elsewhere and in silent frames.
    """
    out = np.zeros((12, semis.shape[1]), dtype=np.float32)
    top = semis.max(axis=0) if semis.size else np.zeros(semis.shape[1])
    voiced = np.flatnonzero(top > 0)
    s = semis[:, voiced]
    padded = np.pad(s, ((1, 1), (0, 0)))
    # a peak, not the skirt of one: a low note leaks into the semitone below it
    peak = (s >= padded[:-2]) & (s >= padded[2:]) & (s >= share * top[voiced])
    lowest = np.argmax(peak, axis=0)  # the first True from below
    out[(midi_lo + lowest) % 12, voiced] = semis[lowest, voiced]
    return out


def bass_transitions(bass_chroma: np.ndarray, *, min_frames: int = 2) -> np.ndarray:
    """Counts of the bass line's moves between held notes, [from pitch class, to pitch class].

    The bass note of a frame is the strongest pitch class of ``bass_chroma``; runs shorter than
    ``min_frames`` frames (passing notes, note-onset smear) are dropped before consecutive different
    notes are counted. The line is read as a loop (its last held note moves on to its first), so a
    piece looped k times counts each of its moves k times: the same proportions as the piece (issue
    17). In a minute of music that is one move among dozens.

    Parameters
    ----------
    bass_chroma : np.ndarray [12, n_frames]
        Pitch-class magnitudes of the bass (the bass register's chroma, or ``lowest_notes``; silent
        frames: all zero).

    Returns
    -------
    np.ndarray [12, 12], float32
    """
    out = np.zeros((12, 12), dtype=np.float32)
    if bass_chroma.shape[1] == 0:
        return out
    notes = np.where(bass_chroma.max(axis=0) > 0, bass_chroma.argmax(axis=0), -1)
    change = np.flatnonzero(notes != np.roll(notes, 1))  # where a run starts, read round the loop
    if change.size == 0:  # one note (or silence) throughout: no move
        return out
    notes = np.roll(notes, -int(change[0]))  # start at a run's start, so no run is cut in two
    starts = change - change[0]
    lengths = np.diff(np.concatenate([starts, [notes.size]]))
    held = notes[starts][(lengths >= min_frames) & (notes[starts] >= 0)]
    if held.size < 2:
        return out
    loop = np.append(held, held[0])
    moves = loop[1:] != loop[:-1]
    np.add.at(out, (loop[:-1][moves], loop[1:][moves]), 1.0)
    return out


def _unit_sum(m: np.ndarray) -> np.ndarray:
    total = float(m.sum())
    return (m / total if total > 0 else np.full((12, 12), 1.0 / 144)).astype(np.float32)
