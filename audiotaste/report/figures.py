"""Every figure audiotaste draws, for the CLI (PNG files) and the HTML report (PNG data URIs).

Matplotlib is imported lazily: plotting is never on the analysis hot path. Figures share their
helpers (bar panels of weights, how a figure becomes bytes) so that the CLI's plots and the report
look and read the same.
"""

from __future__ import annotations

import base64
import io
import math
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audiotaste._io import atomic_path
from audiotaste.catalogue.names import track_label
from audiotaste.constants import ANALYSIS_SR, KEY_NAMES

if TYPE_CHECKING:
    import pandas as pd

    from audiotaste.analysis import Analysis
    from audiotaste.tagger import Tagger

__all__ = [
    "embedding_map",
    "fmt_weight",
    "plot_analysis",
    "plot_taste_profile",
    "profile_figure",
    "reliability_figure",
    "track_figure",
]

_POSITIVE, _NEGATIVE = "#357", "#b44"


# --- shared ---------------------------------------------------------------------------------------
def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, out: str | os.PathLike[str], *, dpi: int = 90) -> Path:
    """Write ``fig`` to ``out`` (atomically; folder created) and close it."""
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return out


def png_uri(fig: Any, *, dpi: int = 80) -> str:
    """``fig`` as a PNG data URI (the report embeds its images), and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def fmt_weight(value: float, digits: int = 2) -> str:
    """A weight rounded for people: ``-0.001`` reads ``0.00``, never ``-0.00``."""
    rounded = round(float(value), digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:.{digits}f}"


def weight_bars(ax: Any, weights: dict[str, float], title: str, *, top: int = 10,
                empty: str = "nothing to show") -> None:
    """Horizontal bars of the ``top`` weights (largest first, negative ones red, values written
    beside them); a panel without weights says why instead of staying blank."""
    items = sorted(weights.items(), key=lambda kv: -kv[1])[:top][::-1]
    ax.set_title(title, fontsize=10)
    if not items:
        ax.text(0.5, 0.5, empty, ha="center", va="center", fontsize=9, color="#777",
                transform=ax.transAxes, wrap=True)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    values = [float(v) for _, v in items]
    ax.barh([k for k, _ in items], values, color=[_NEGATIVE if v < 0 else _POSITIVE for v in values])
    ax.axvline(0, color="#888", lw=0.5)
    span = max(1e-9, max(abs(v) for v in values))
    for y, v in enumerate(values):
        ax.text(v + (0.02 if v >= 0 else -0.02) * span, y, fmt_weight(v), va="center",
                ha="left" if v >= 0 else "right", fontsize=7)
    lo, hi = min(0.0, min(values)), max(0.0, max(values))
    ax.set_xlim(lo - 0.2 * span * (lo < 0), hi + 0.2 * span)
    ax.tick_params(labelsize=8)


def _columns(tracks: pd.DataFrame, prefix: str) -> list[str]:
    return [c for c in tracks.columns if c.startswith(prefix)]


def top_label(tracks: pd.DataFrame, prefix: str) -> pd.Series:
    """Each track's most probable label of a taxonomy (``"genre."``), ``"-"`` where it has none."""
    import pandas as pd

    cols = _columns(tracks, prefix)
    if not cols:
        return pd.Series(["-"] * len(tracks), index=tracks.index)
    values = tracks[cols].astype(float)
    return values.idxmax(axis=1).str.slice(len(prefix)).where(values.notna().any(axis=1), "-")


def row_label(row: pd.Series) -> str:
    """A catalogue row's name for people (see :func:`audiotaste.catalogue.names.track_label`)."""
    return track_label(row.get("artist"), row.get("title"), row.get("path"), row.get("track_id"))


# --- one analysis (CLI: analyze --plot) ------------------------------------------------------------
def plot_analysis(path: str | os.PathLike[str], result: Analysis, out: str | os.PathLike[str]) -> Path:
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
    from audiotaste.features.spectrum import HOP_LENGTH, melspectrogram, stft_power
    from audiotaste.features.tonal import chromagram

    plt = pyplot()
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
    key_text = "no key" if result.key is None else f"{result.key_name} {'major' if result.mode else 'minor'}"
    tempo_text = "no tempo" if result.tempo_bpm is None else f"{result.tempo_bpm:.1f} BPM"
    axes[0].set_title(f"{Path(path).name} — {tempo_text}, {key_text}, "
                      f"{result.loudness_lufs:.1f} LUFS")
    extent = (0.0, mel.shape[1] * HOP_LENGTH / sr, 0.0, float(mel.shape[0]))
    axes[1].imshow(mel, origin="lower", aspect="auto", extent=extent, cmap="magma")
    beats = [b for b in result.beat_times if b <= seconds]
    axes[1].vlines(beats, 0, mel.shape[0] * 0.06, color="cyan", lw=0.8, label="beats")
    axes[1].set_ylabel("mel band")
    axes[1].legend(loc="upper right", fontsize=8)
    axes[2].imshow(chroma, origin="lower", aspect="auto", cmap="viridis",
                   extent=(0.0, chroma.shape[1] * HOP_LENGTH / sr, -0.5, 11.5))
    axes[2].set_yticks(range(12), KEY_NAMES, fontsize=7)
    if result.key is not None:
        axes[2].axhline(result.key, color="white", lw=1.0, ls="--")
    axes[2].set_ylabel("chroma")
    axes[2].set_xlabel("time (s)")
    fig.tight_layout()
    return save_png(fig, out)


# --- taste profiles (CLI: profile --plot; the report) ---------------------------------------------
def _profile_title(profile: dict[str, Any]) -> str:
    label = str(profile.get("label") or "")
    tr = profile.get("tempo_range")
    tempo = f"{tr[0]:.0f}-{tr[1]:.0f} BPM" if tr else ""
    parts = [label] + ([tempo] if tempo and tempo not in label else [])  # the label may say it already
    openness = profile.get("openness")
    if openness is not None:
        parts.append(f"openness {fmt_weight(openness)}")
    return f"{profile.get('user_id')}: " + ", ".join(p for p in parts if p)


def plot_taste_profile(profile: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """One PNG of ``TasteProfile.to_dict()``: genre and mood weights, top artists, weekly drift.

    Parameters
    ----------
    profile : dict
        ``TasteProfile.to_dict()``.
    out : path-like
        PNG to write.
    """
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    weight_bars(axes[0, 0], profile.get("genres") or {},
                "genres (weighted tag mean; skips count against)", empty="no genre tags in the catalogue")
    weight_bars(axes[0, 1], profile.get("moods") or {}, "moods", empty="no mood tags in the catalogue")
    weight_bars(axes[1, 0], profile.get("top_artists") or {}, "top artists (recency-weighted liked plays)",
                empty="no artist names: the catalogue's files\nhave no artist tags and the history\n"
                      "names no artists")
    drift = profile.get("drift") or []
    ax = axes[1, 1]
    if drift:
        ax.plot([d["week"] for d in drift], [d["similarity"] for d in drift], marker="o", color=_POSITIVE)
        for d in drift:
            ax.annotate(d["top_genre"] or "", (d["week"], d["similarity"]), fontsize=7, ha="center",
                        xytext=(0, 6), textcoords="offset points")
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
        ax.margins(x=0.08)  # room for the first and last week's genre
    ax.set_ylim(-1.05, 1.2)
    ax.set_title("week by week: similarity to the whole profile", fontsize=10)
    fig.suptitle(_profile_title(profile))
    fig.tight_layout()
    return save_png(fig, out)


def profile_figure(profile: dict[str, Any], user: str) -> str:
    """The report's panel of one listener: genre and mood weights and listening habits (0-1)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, name in zip(axes[:2], ("genre", "mood"), strict=True):
        weight_bars(ax, profile.get(f"{name}s") or {}, f"{user}: {name} weights", top=8,
                    empty=f"no {name} tags in the catalogue")
    scalars = {k: float(v) for k, v in profile.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= float(v) <= 1.0}
    weight_bars(axes[2], dict(list(scalars.items())[:8]), "listening habits (0-1)", top=8)
    if scalars:
        axes[2].set_xlim(0, 1.15)
    fig.tight_layout()
    return png_uri(fig)


# --- the catalogue (the report) -------------------------------------------------------------------
def track_figure(row: pd.Series, tagger: Tagger | None) -> str:
    """Spectrogram with beats and key, tag bars, and tags over time for one catalogue track."""
    import pandas as pd

    from audiotaste.audio import load
    from audiotaste.features import rhythm
    from audiotaste.features.spectrum import HOP_LENGTH, melspectrogram, stft_power

    plt = pyplot()
    y, sr = load(str(row["path"]), sr=ANALYSIS_SR, duration=60.0)
    spectrum = stft_power(y)
    mel = melspectrogram(spectrum=spectrum)
    beats = rhythm.tempo(y, spectrum=spectrum, mel_db=mel).beat_times
    fig = plt.figure(figsize=(12, 3.4))
    grid = fig.add_gridspec(2 if tagger is not None else 1, 3, width_ratios=[3.2, 1, 1])
    ax = fig.add_subplot(grid[:, 0])
    seconds = mel.shape[1] * HOP_LENGTH / sr
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, mel.shape[0]))
    ax.vlines([b for b in beats if b <= seconds], 0, 8, color="cyan", lw=0.8)
    mode = "major" if row.get("mode", 1) == 1 else "minor"
    key_name = row.get("key_name")  # None (NaN in older frames) when the track has no key
    key_text = f"{key_name} {mode}" if isinstance(key_name, str) and key_name else "no key"
    tempo = row.get("tempo_bpm", float("nan"))
    tempo_text = "no tempo" if not isinstance(tempo, float) or math.isnan(tempo) else f"{tempo:.0f} BPM"
    ax.set_title(f"{tempo_text} · {key_text} · {row.get('loudness_lufs', float('nan')):.1f} LUFS",
                 fontsize=9)
    ax.set_xlabel("s (first minute)")
    ax.set_yticks([])
    for i, prefix in enumerate(("genre.", "mood.")):
        cols = [c for c in row.index if c.startswith(prefix) and pd.notna(row[c])]
        bar_ax = fig.add_subplot(grid[0, 1 + i])
        if cols:
            top = sorted(cols, key=lambda c: -float(row[c]))[:5]
            bar_ax.barh([c[len(prefix):] for c in top][::-1], [float(row[c]) for c in top][::-1],
                        color="#4a7" if i == 0 else "#a74")
            bar_ax.set_xlim(0, 1)
        bar_ax.set_title(prefix.rstrip("."), fontsize=9)
        bar_ax.tick_params(labelsize=7)
    if tagger is not None:
        out = tagger.predict_segment(y, spectrum, mel)
        probs = np.asarray(out.patch_probs)
        names = list(tagger.label_names)
        time_ax = fig.add_subplot(grid[1, 1:])
        if probs.size:
            top_cols = np.argsort(-probs.mean(axis=0))[:4]
            times = np.asarray(out.patch_times)
            for j in top_cols:
                time_ax.plot(times, probs[:, j], marker=".", lw=1, label=names[j] if j < len(names) else str(j))
            time_ax.set_ylim(0, 1)
            time_ax.legend(fontsize=6, loc="upper right", ncol=2)
        time_ax.set_title("tags over time", fontsize=9)
        time_ax.tick_params(labelsize=7)
    fig.tight_layout()
    return png_uri(fig)


#: Marker per colour cycle, so that more groups than colours still read apart.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def embedding_map(tracks: pd.DataFrame) -> str | None:
    """2-D PCA map of the embeddings (or, without embeddings, of the tag probabilities), one
    colour-and-marker per top genre, every point named, nothing clipped."""
    cols = _columns(tracks, "emb_") or _columns(tracks, "genre.") + _columns(tracks, "mood.")
    if len(tracks) < 3 or len(cols) < 2:
        return None
    x = tracks[cols].to_numpy(dtype=np.float64)
    x = np.nan_to_num(x - np.nanmean(x, axis=0))
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    genre = top_label(tracks, "genre.")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 6.5))
    tab20 = plt.get_cmap("tab20").colors
    palette = tab20[0::2] + tab20[1::2]  # ten strong colours first, then their light shades
    for k, g in enumerate(sorted(genre.unique())):
        m = (genre == g).to_numpy()
        ax.scatter(xy[m, 0], xy[m, 1], s=60, label=g, alpha=0.9, color=palette[k % len(palette)],
                   marker=_MARKERS[(k // len(palette)) % len(_MARKERS)], edgecolors="#333", linewidths=0.4)
    span = np.ptp(xy, axis=0) + 1e-12
    placed: list[np.ndarray] = []
    for i, (_, row) in enumerate(tracks.iterrows()):
        if i >= 40:
            break
        here = xy[i] / span
        # a name right next to an earlier one goes below its point instead of above
        crowded = any(abs(here[0] - p[0]) < 0.25 and abs(here[1] - p[1]) < 0.05 for p in placed)
        placed.append(here)
        ax.annotate(textwrap.shorten(row_label(row), 44, placeholder="…"), xy[i], fontsize=7,
                    alpha=0.9, xytext=(5, -10 if crowded else 4), textcoords="offset points")
    ax.margins(0.18)  # room for the names of the points at the edges
    ax.set_title("catalogue map: embeddings on their two main axes,\ncoloured by top genre", fontsize=11)
    ax.legend(fontsize=8, title="top genre", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_xlabel("first axis")
    ax.set_ylabel("second axis")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return png_uri(fig)


def reliability_figure(reliability: dict[str, Any], *, title: str) -> str:
    """Reliability diagrams, one panel per target: mean predicted probability per bin against how
    often the target was true, the diagonal for perfect calibration, and how many predictions each
    bin holds (``reliability``: target -> :func:`~audiotaste.tagger.calibration.reliability_bins`)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(reliability), figsize=(4.2 * len(reliability), 4.2), squeeze=False)
    for ax, (target, r) in zip(axes[0], reliability.items(), strict=True):
        edges = np.asarray(r["edges"], float)
        count = np.asarray(r["count"], float)
        full = count > 0
        pred = np.array([np.nan if v is None else v for v in r["mean_predicted"]], float)
        seen = np.array([np.nan if v is None else v for v in r["observed"]], float)
        ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="perfectly calibrated")
        ax.plot(pred[full], seen[full], marker="o", color=_POSITIVE, label="observed")
        share = ax.twinx()
        share.bar(edges[:-1], count / max(count.sum(), 1), width=np.diff(edges), align="edge",
                  color=_POSITIVE, alpha=0.15)
        share.set_ylim(0, 1)
        share.set_yticks([])
        ece = float(np.nansum(count * np.abs(pred - seen)) / max(count.sum(), 1))
        ax.set_title(f"{target}: ECE {ece:.3f} ({len(count)} bins), n = {int(count.sum())}", fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted probability")
        ax.set_ylabel("observed frequency")
        ax.legend(fontsize=7, loc="upper left", frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return png_uri(fig)
