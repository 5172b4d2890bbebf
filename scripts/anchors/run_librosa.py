"""librosa anchor: beat_track tempo and beats; chroma (CQT) + Krumhansl-Schmuckler key profiles."""

from __future__ import annotations

import time

import librosa
import numpy as np
from _runner import serve, timed, to_list

SR = 22050
# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def ks_key(chroma_mean: np.ndarray) -> str:
    """The key whose rotated profile correlates best with the mean chroma."""
    best = (-2.0, "")
    for tonic in range(12):
        for profile, mode in ((MAJOR, "major"), (MINOR, "minor")):
            r = float(np.corrcoef(chroma_mean, np.roll(profile, tonic))[0, 1])
            if r > best[0]:
                best = (r, f"{NAMES[tonic]} {mode}")
    return best[1]


def analyse(path: str):
    start = time.process_time()
    y, sr = librosa.load(path, sr=SR, mono=True)
    decode_s = time.process_time() - start

    def beats():
        tempo, frames = librosa.beat.beat_track(y=y, sr=sr)
        return {"tempo": float(np.atleast_1d(tempo)[0]), "beats": to_list(librosa.frames_to_time(frames, sr=sr))}

    def key():
        chroma = librosa.feature.chroma_cqt(y=y, sr=sr)
        return {"key": ks_key(chroma.mean(axis=1))}

    return len(y) / sr, decode_s, {"beat_track": timed(beats), "ks-key": timed(key)}


if __name__ == "__main__":
    serve(analyse)
