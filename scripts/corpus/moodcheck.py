"""Objective stand-in for a listening check: does each mood sound like its definition?

Nobody here can listen, so per mood we measure what a listener would hear, on rendered clips:
tempo (librosa's beat tracker on the audio, beside the label), minor-mode share, onset rate,
spectral brightness, melody register and note rate and mean velocity (from the clip's MIDI).

    python -m corpus.moodcheck corpus/full/manifest.csv --n 300     (run from scripts/)
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

MOODS = ("happy", "sad", "energetic", "calm", "tense", "tender")


def measure(args: tuple[str, str]) -> dict[str, float]:
    import librosa
    import mido

    audio, midi = args
    y, sr = librosa.load(audio, sr=22050, mono=True, duration=20.0)
    onset = librosa.onset.onset_strength(y=y, sr=sr)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=sr))[0])
    onsets = librosa.onset.onset_detect(onset_envelope=onset, sr=sr)
    centroid = float(np.median(librosa.feature.spectral_centroid(y=y, sr=sr)))
    mel_pitch, vel, n_mel = [], [], 0
    for tr in mido.MidiFile(midi).tracks:
        for m in tr:
            if m.type == "note_on" and m.velocity > 0:
                vel.append(m.velocity)
                if tr.name == "melody":
                    mel_pitch.append(m.note)
                    n_mel += 1
    dur = len(y) / sr
    return {"tempo_est": tempo, "onsets_per_s": len(onsets) / dur, "centroid_hz": centroid,
            "melody_pitch": float(np.mean(mel_pitch)) if mel_pitch else np.nan,
            "melody_notes_per_s": n_mel / dur, "velocity": float(np.mean(vel)) if vel else np.nan}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("manifest", type=Path)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    root = args.manifest.parent
    df = pd.read_csv(args.manifest)
    df = df.sample(n=min(args.n, len(df)), random_state=0)
    jobs = [(str(root / r.path), str(root / "midi" / f"{r.clip_id}.mid")) for r in df.itertuples()]
    cache = root / f".moodcheck_{args.n}.csv"
    if cache.exists():
        feats = pd.read_csv(cache, index_col=0)
    else:
        with ProcessPoolExecutor(args.workers) as pool:
            feats = pd.DataFrame(list(pool.map(measure, jobs, chunksize=4)), index=df.index)
        feats.to_csv(cache)
    df = df.join(feats)
    rows = []
    for mood in MOODS:
        sel = df[df.moods.str.split(";").apply(lambda ms, m=mood: m in ms)]
        rows.append({
            "mood": mood, "clips": len(sel), "tempo label (median)": sel.tempo_bpm.median(),
            "tempo librosa (median)": sel.tempo_est.median(), "minor share": 1 - sel["mode"].mean(),
            "onsets/s": sel.onsets_per_s.mean(), "centroid Hz": sel.centroid_hz.median(),
            "melody pitch (MIDI)": sel.melody_pitch.mean(), "melody notes/s": sel.melody_notes_per_s.mean(),
            "velocity": sel.velocity.mean(),
        })
    out = pd.DataFrame(rows).set_index("mood")
    print(f"{len(df)} clips sampled from {args.manifest}")
    print("| " + " | ".join(["mood", *out.columns]) + " |")
    print("|" + "---|" * (len(out.columns) + 1))
    for mood, r in out.iterrows():
        print(f"| {mood} | " + " | ".join(f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}" for v in r)
              + " |")


if __name__ == "__main__":
    main()
