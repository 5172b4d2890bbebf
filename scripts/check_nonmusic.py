"""End-to-end checks of the speech and percussion check on the held half (no fitting, no choosing).

``analyze``: every held clip of ``scripts/nonmusic_features.py``'s CSV through ``audiotaste.analyze``
(``tags=False``, whole file, every segment), counted by what its key note says. ``bed``: three clips
per held speaker over held music at several speech-to-music ratios (RMS over the whole clip), read by
``nonmusic.judge``: how much music under a voice the check tolerates::

    python scripts/check_nonmusic.py analyze /work/data/speech/summaries.csv --workers 2
    python scripts/check_nonmusic.py bed /work/data/speech/summaries.csv
"""

from __future__ import annotations

import argparse
import collections
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd


def _notes(path: str) -> str:
    import torch

    import audiotaste

    torch.set_num_threads(1)
    return audiotaste.analyze(path, tags=False).notes or ""


def _bucket(notes: str) -> str:
    if "key: no key: speech" in notes:
        return "speech"
    if "key: no key: percussion only" in notes:
        return "percussion only"
    return "other no-key reason" if "key:" in notes else "a key"


def check_analyze(held: pd.DataFrame, workers: int) -> None:
    with ProcessPoolExecutor(workers) as pool:
        notes = list(pool.map(_notes, held.path, chunksize=4))
    held = held.assign(bucket=[_bucket(n) for n in notes])
    for kind, sub in held.groupby("kind"):
        print(kind, len(sub), dict(collections.Counter(sub.bucket)))
    for path in held[(held.kind == "music") & held.bucket.isin(["speech", "percussion only"])].path:
        print("  music flagged:", path)


def check_bed(held: pd.DataFrame) -> None:
    from audiotaste.audio import load
    from audiotaste.features import nonmusic, pitch
    from audiotaste.features.spectrum import melspectrogram, stft_power

    speech = held[held.kind == "speech"].groupby("group").head(3).path.tolist()
    music = held[held.kind == "music"].sample(len(speech), random_state=0).path.tolist()
    for ratio_db in (30, 20, 10, 0):
        kinds = []
        for s_path, m_path in zip(speech, music, strict=True):
            s, sr = load(s_path, sr=22050)
            m, _ = load(m_path, sr=22050, duration=s.size / sr)
            m = np.resize(m, s.size)  # a short music clip is looped under the voice
            gain = np.sqrt(np.mean(s**2)) / (np.sqrt(np.mean(m**2)) + 1e-9) * 10 ** (-ratio_db / 20)
            y = (s + gain * m).astype(np.float32)
            inputs = pitch.key_inputs(y, sr)
            assert inputs is not None
            kinds.append(nonmusic.judge(melspectrogram(spectrum=stft_power(y)), *inputs).kind)
        print(f"speech over music, {ratio_db} dB speech-to-music: {dict(collections.Counter(kinds))} of {len(speech)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["analyze", "bed"])
    ap.add_argument("csv")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    df = pd.read_csv(args.csv)
    held = df[df.split == "held"]
    if args.what == "analyze":
        check_analyze(held, args.workers)
    else:
        check_bed(held)


if __name__ == "__main__":
    main()
