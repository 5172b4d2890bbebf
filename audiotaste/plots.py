"""Matplotlib figures (PNG) for the CLI and the report. Imports matplotlib lazily: plotting is
never on the analysis hot path. Each topic keeps its figures in its own section below."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# --- analysis (lead) -------------------------------------------------------------------------------
def plot_analysis(path: str | os.PathLike[str], result: Any, out: str | os.PathLike[str]) -> Path:
    """One PNG: waveform, log-mel spectrogram with beat ticks, chroma with the detected key.

    Parameters
    ----------
    path : path-like
        The analysed audio file (decoded again here: plotting is never on the analysis hot path).
    result : Analysis
        What ``analyze`` returned for it.
    out : path-like
        PNG to write.
    """
    from audiotaste.audio import load
    from audiotaste.features.spectrum import ANALYSIS_SR, HOP_LENGTH, melspectrogram, stft_power
    from audiotaste.features.tonal import chromagram

    plt = _pyplot()
    y, sr = load(path, sr=ANALYSIS_SR, duration=120.0)
    spectrum = stft_power(y)
    mel = melspectrogram(spectrum=spectrum)
    chroma = chromagram(spectrum)
    seconds = len(y) / sr
    fig, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True, height_ratios=[1, 2, 1.3])
    t = np.arange(len(y)) / sr
    step = max(1, len(y) // 20000)
    axes[0].plot(t[::step], y[::step], lw=0.5, color="#335")
    axes[0].set_ylabel("amplitude")
    tempo_text = "no tempo" if result.tempo_bpm is None else f"{result.tempo_bpm:.1f} BPM"
    key_text = "no key" if result.key is None else f"{result.key_name} {'major' if result.mode else 'minor'}"
    axes[0].set_title(f"{Path(path).name} — {tempo_text}, {key_text}, "
                      f"{result.loudness_lufs:.1f} LUFS")
    extent = (0.0, mel.shape[1] * HOP_LENGTH / sr, 0.0, float(mel.shape[0]))
    axes[1].imshow(mel, origin="lower", aspect="auto", extent=extent, cmap="magma")
    beats = [b for b in result.beat_times if b <= seconds]
    axes[1].vlines(beats, 0, mel.shape[0] * 0.06, color="cyan", lw=0.8, label="beats")
    axes[1].set_ylabel("mel band")
    axes[1].legend(loc="upper right", fontsize=8)
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    axes[2].imshow(chroma, origin="lower", aspect="auto", cmap="viridis",
                   extent=(0.0, chroma.shape[1] * HOP_LENGTH / sr, -0.5, 11.5))
    axes[2].set_yticks(range(12), names, fontsize=7)
    if result.key is not None:
        axes[2].axhline(result.key, color="white", lw=1.0, ls="--")
    axes[2].set_ylabel("chroma")
    axes[2].set_xlabel("time (s)")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


# --- taste profile (recommend) ---------------------------------------------------------------------
def plot_taste_profile(profile: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """One PNG of ``TasteProfile.to_dict()``: genre and mood weights, top artists, weekly drift.

    Parameters
    ----------
    profile : dict
        ``TasteProfile.to_dict()``.
    out : path-like
        PNG to write.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    panels = [
        (axes[0, 0], profile.get("genres", {}), "genres (weighted tag mean; skips count against)"),
        (axes[0, 1], profile.get("moods", {}), "moods"),
        (axes[1, 0], profile.get("top_artists", {}), "top artists (recency-weighted liked plays)"),
    ]
    for ax, values, title in panels:
        items = list(values.items())[:10][::-1]
        ax.barh([k for k, _ in items], [v for _, v in items], color=["#b44" if v < 0 else "#357" for _, v in items])
        ax.set_title(title, fontsize=10)
        ax.axvline(0, color="#888", lw=0.5)
    drift = profile.get("drift", [])
    ax = axes[1, 1]
    if drift:
        ax.plot([d["week"] for d in drift], [d["similarity"] for d in drift], marker="o", color="#357")
        for d in drift:
            ax.annotate(d["top_genre"] or "", (d["week"], d["similarity"]), fontsize=7, rotation=45)
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.set_ylim(-1.05, 1.05)
    ax.set_title("week by week: similarity to the whole profile", fontsize=10)
    tr = profile.get("tempo_range")
    extra = f", {tr[0]:.0f}-{tr[1]:.0f} BPM" if tr else ""
    fig.suptitle(f"{profile.get('user_id')}: {profile.get('label')}{extra}, openness {profile.get('openness')}")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
