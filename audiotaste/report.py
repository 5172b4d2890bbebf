"""``audiotaste report``: one self-contained HTML page (no CDN, works offline) about a catalogue and
its listeners: per-track spectrograms with beats and key, tag bars and tags over time, a 2-D map of the
embeddings, taste profiles, recommendations and the discovery playlist, each with its reasons.

Images are PNGs embedded as data URIs, so the page is one file that can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audiotaste.errors import AudiotasteError, InputError

MAX_TRACK_PANELS = 12


@dataclass(frozen=True)
class ReportResult:
    """What ``build_report`` wrote."""

    path: Path
    n_tracks: int
    users: tuple[str, ...]
    sections: tuple[str, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "n_tracks": self.n_tracks, "users": list(self.users),
                "sections": list(self.sections), "warnings": list(self.warnings)}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    _pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _table(frame: pd.DataFrame, *, floats: int = 2) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for v in row:
            text = f"{v:.{floats}f}" if isinstance(v, (float, np.floating)) else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _columns(tracks: pd.DataFrame, prefix: str) -> list[str]:
    return [c for c in tracks.columns if c.startswith(prefix)]


def _top_label(tracks: pd.DataFrame, prefix: str) -> pd.Series:
    cols = _columns(tracks, prefix)
    if not cols:
        return pd.Series(["-"] * len(tracks), index=tracks.index)
    values = tracks[cols].astype(float)
    return values.idxmax(axis=1).str.slice(len(prefix)).where(values.notna().any(axis=1), "-")


def _display_name(row: pd.Series) -> str:
    title = row.get("title")
    if isinstance(title, str) and title:
        artist = row.get("artist")
        return f"{artist} – {title}" if isinstance(artist, str) and artist else title
    return Path(str(row.get("path", row["track_id"]))).name


# --- figures -------------------------------------------------------------------------------------
def track_figure(row: pd.Series, tagger: Any) -> str:
    """Spectrogram with beats and key, tag bars, and tags over time for one catalogue track."""
    from audiotaste.audio import load
    from audiotaste.features import rhythm
    from audiotaste.features.spectrum import ANALYSIS_SR, HOP_LENGTH, melspectrogram, stft_power

    plt = _pyplot()
    y, sr = load(str(row["path"]), sr=ANALYSIS_SR, duration=60.0)
    spectrum = stft_power(y)
    mel = melspectrogram(spectrum=spectrum)
    beats = rhythm.tempo(y, spectrum=spectrum, mel_db=mel).beat_times
    has_time = tagger is not None
    fig = plt.figure(figsize=(12, 3.4))
    grid = fig.add_gridspec(2 if has_time else 1, 3, width_ratios=[3.2, 1, 1])
    ax = fig.add_subplot(grid[:, 0])
    seconds = mel.shape[1] * HOP_LENGTH / sr
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, mel.shape[0]))
    ax.vlines([b for b in beats if b <= seconds], 0, 8, color="cyan", lw=0.8)
    mode = "major" if row.get("mode", 1) == 1 else "minor"
    key = row.get("key")
    key_text = f"{row.get('key_name', '?')} {mode}" if key is not None and key == key and key >= 0 else "no key"
    bpm = row.get("tempo_bpm")
    tempo_text = f"{bpm:.0f} BPM" if isinstance(bpm, (int, float)) and bpm == bpm else "no tempo"
    ax.set_title(f"{tempo_text} · {key_text} · "
                 f"{row.get('loudness_lufs', float('nan')):.1f} LUFS", fontsize=9)
    ax.set_xlabel("s (first minute)")
    ax.set_yticks([])
    for i, prefix in enumerate(("genre.", "mood.")):
        cols = [c for c in row.index if c.startswith(prefix) and pd.notna(row[c])]
        bar_ax = fig.add_subplot(grid[0, 1 + i]) if has_time else fig.add_subplot(grid[0, 1 + i])
        if cols:
            top = sorted(cols, key=lambda c: -float(row[c]))[:5]
            bar_ax.barh([c[len(prefix):] for c in top][::-1], [float(row[c]) for c in top][::-1],
                        color="#4a7" if i == 0 else "#a74")
            bar_ax.set_xlim(0, 1)
        bar_ax.set_title(prefix.rstrip("."), fontsize=9)
        bar_ax.tick_params(labelsize=7)
    if has_time:
        out = tagger.predict_segment(y, spectrum, mel)
        probs = np.asarray(out.patch_probs)
        names = [f"{tax}.{label}" for tax, labels in tagger.labels.items() for label in labels]
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
    return _png(fig)


def embedding_map(tracks: pd.DataFrame) -> str | None:
    """2-D PCA map of the embeddings (or, without embeddings, of the tag probabilities)."""
    cols = _columns(tracks, "emb_") or _columns(tracks, "genre.") + _columns(tracks, "mood.")
    if len(tracks) < 3 or len(cols) < 2:
        return None
    x = tracks[cols].to_numpy(dtype=np.float64)
    x = np.nan_to_num(x - np.nanmean(x, axis=0))
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    genre = _top_label(tracks, "genre.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for g in sorted(genre.unique()):
        m = (genre == g).to_numpy()
        ax.scatter(xy[m, 0], xy[m, 1], s=60, label=g, alpha=0.85)
    for i, (_, row) in enumerate(tracks.iterrows()):
        if i < 40:
            ax.annotate(_display_name(row)[:28], xy[i], fontsize=7, alpha=0.8,
                        xytext=(4, 3), textcoords="offset points")
    ax.set_title("catalogue map: embeddings projected on their two main axes, coloured by top genre")
    ax.legend(fontsize=7, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return _png(fig)


def profile_figure(profile: dict[str, Any], user: str) -> str:
    """Genre and mood weights, tempo range and energy/danceability preference of one listener."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, name in zip(axes[:2], ("genre", "mood"), strict=True):
        weights = profile.get(f"{name}s") or {}
        items = sorted(weights.items(), key=lambda kv: -kv[1])[:8]
        if items:
            ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#47a")
        ax.set_title(f"{user}: {name} weights", fontsize=9)
        ax.tick_params(labelsize=7)
    scalars = {k: v for k, v in profile.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and 0.0 <= float(v) <= 1.0}
    if scalars:
        keys = list(scalars)[:8]
        axes[2].barh(keys[::-1], [float(scalars[k]) for k in keys][::-1], color="#7a4")
        axes[2].set_xlim(0, 1)
    axes[2].set_title("listening habits (0-1)", fontsize=9)
    axes[2].tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


# --- page ------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f6f4;color:#222}
header{background:#1d2b3a;color:#fff;padding:18px 28px}header h1{margin:0;font-size:24px}
header p{margin:4px 0 0;color:#bcd}main{padding:8px 28px 40px;max-width:1280px}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;box-shadow:0 1px 3px #0002}
h2{margin:4px 0 10px;font-size:19px}h3{margin:12px 0 6px;font-size:15px}
img{max-width:100%;display:block}table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}th{background:#eef}
.muted{color:#777;font-size:13px}.grid{display:grid;grid-template-columns:1fr;gap:10px}
"""

# Records load failures (images, scripts) and script errors in the DOM, so a headless browser test
# can read them back with --dump-dom.
_CHECK_JS = """
window.__errors=[];
window.addEventListener('error',function(e){window.__errors.push(String(e.message||(e.target&&e.target.src)||'error'));},true);
window.addEventListener('load',function(){
 var imgs=Array.prototype.slice.call(document.images);
 var broken=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0);}).length;
 document.body.setAttribute('data-images',String(imgs.length));
 document.body.setAttribute('data-broken-images',String(broken));
 document.body.setAttribute('data-errors',String(window.__errors.length));
});
"""


def build_report(
    db: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    events: str | os.PathLike[str] | None = None,
    users: list[str] | None = None,
    max_tracks: int = MAX_TRACK_PANELS,
    n_recommendations: int = 10,
) -> ReportResult:
    """Write ``out_dir/index.html`` for a catalogue and, optionally, a listening history.

    Parameters
    ----------
    db : path-like
        Catalogue (SQLite) written by ``audiotaste tag``.
    out_dir : path-like
        Folder for ``index.html`` (created).
    events : path-like, optional
        Listening history in any format ``read_events`` reads; without it the page has no
        listener sections.
    users : list of str, optional
        Listeners to show (default: up to four of the most active).
    max_tracks : int
        Tracks with a spectrogram panel (the first ones by path).
    """
    from audiotaste.catalogue import Catalogue

    db_path = Path(db)
    if not db_path.exists():
        raise InputError(db_path, "no such catalogue (run `audiotaste tag DIR --db ...` first)")
    with Catalogue.open(db_path, readonly=True) as cat:
        tracks = cat.to_pandas()
    if tracks.empty:
        raise InputError(db_path, "the catalogue has no tracks")
    tracks = tracks.sort_values("path").reset_index(drop=True) if "path" in tracks else tracks
    warnings: list[str] = []
    sections: list[str] = []
    body: list[str] = []

    tagger = _tagger_for(tracks, warnings)
    overview = pd.DataFrame({
        "track": [_display_name(r) for _, r in tracks.iterrows()],
        "tempo (BPM)": tracks.get("tempo_bpm", pd.Series(np.nan, index=tracks.index)).round(1),
        "key": [f"{r.get('key_name')} {'maj' if r.get('mode', 1) == 1 else 'min'}"
                if isinstance(r.get("key_name"), str) and r.get("key_name") else "no key"
                for _, r in tracks.iterrows()],
        "LUFS": tracks.get("loudness_lufs", pd.Series(np.nan, index=tracks.index)).round(1),
        "energy": tracks.get("energy", pd.Series(np.nan, index=tracks.index)),
        "top genre": _top_label(tracks, "genre."),
        "top mood": _top_label(tracks, "mood."),
    })
    body.append(f"<section id='catalogue'><h2>Catalogue · {len(tracks)} tracks</h2>{_table(overview)}</section>")
    sections.append("catalogue")

    panels = []
    for _, row in tracks.head(max_tracks).iterrows():
        try:
            panels.append(f"<h3>{html.escape(_display_name(row))}</h3>{_img(track_figure(row, tagger), 'spectrogram')}")
        except AudiotasteError as exc:
            warnings.append(f"track panel skipped: {exc}")
    if panels:
        body.append("<section id='tracks'><h2>Tracks: spectrogram with beats and key, tags, tags over time</h2>"
                    + "".join(panels) + "</section>")
        sections.append("tracks")

    emb = embedding_map(tracks)
    if emb:
        body.append(f"<section id='map'><h2>Catalogue map</h2>{_img(emb, 'embedding map')}</section>")
        sections.append("map")

    shown: list[str] = []
    if events is not None:
        shown = _listener_sections(tracks, Path(events), users, n_recommendations, body, sections, warnings)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    notes = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>audiotaste report</title><style>{_CSS}</style><script>{_CHECK_JS}</script></head><body>"
        f"<header><h1>audiotaste report</h1><p>{html.escape(str(db_path))} · {len(tracks)} tracks"
        f"{' · listeners: ' + html.escape(', '.join(shown)) if shown else ''}</p></header><main>"
        + "".join(body)
        + (f"<section id='notes'><h2>Notes</h2><ul class='muted'>{notes}</ul></section>" if warnings else "")
        + "</main></body></html>"
    )
    target = out / "index.html"
    tmp = out / ".index.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, target)
    return ReportResult(target, len(tracks), tuple(shown), tuple(sections), tuple(warnings))


def _tagger_for(tracks: pd.DataFrame, warnings: list[str]) -> Any:
    if not _columns(tracks, "genre."):
        return None
    try:
        from audiotaste.tagger import load_model

        return load_model("default")
    except AudiotasteError as exc:
        warnings.append(f"tags over time not shown: {exc}")
        return None


def _listener_sections(
    tracks: pd.DataFrame, events_path: Path, users: list[str] | None, n: int,
    body: list[str], sections: list[str], warnings: list[str],
) -> list[str]:
    from audiotaste.recommend import Recommender, TasteProfile
    from audiotaste.recommend.events import read_events
    from audiotaste.recommend.explore import Discovery

    events = read_events(events_path)
    if "track_id" in events:
        known = set(tracks["track_id"])
        events = events[events["track_id"].isin(known)]
    if events.empty:
        warnings.append(f"{events_path}: no listening event matches a catalogue track")
        return []
    chosen = users or list(events["user_id"].value_counts().index[:4])
    rec = Recommender().fit(events, tracks)
    disc = Discovery(rec, size=15, tracks=tracks, random_state=0)
    names = {r["track_id"]: _display_name(r) for _, r in tracks.iterrows()}
    prof_html, rec_html, disc_html = [], [], []
    for user in chosen:
        profile = TasteProfile.from_events(events, tracks, user_id=user).to_dict()
        prof_html.append(f"<h3>{html.escape(user)}</h3>{_img(profile_figure(profile, user), 'taste profile')}")
        recs = rec.recommend(user, n=n)
        recs = recs.assign(track=recs["track_id"].map(names))[["track", "score", "reason"]]
        rec_html.append(f"<h3>{html.escape(user)}</h3>{_table(recs)}")
        playlist = disc.playlist(user)
        playlist = playlist.assign(track=playlist["track_id"].map(names))
        disc_html.append(f"<h3>{html.escape(user)}</h3>"
                         f"{_table(playlist[['position', 'track', 'shelf', 'reason', 'propensity']])}")
    body.append("<section id='profiles'><h2>Taste profiles</h2>" + "".join(prof_html) + "</section>")
    body.append("<section id='recommendations'><h2>Recommendations, with reasons</h2>"
                + "".join(rec_html) + "</section>")
    body.append("<section id='discovery'><h2>Discovery playlist</h2><p class='muted'>Shelves explore as "
                "well as exploit; propensity is the probability the policy gave each pick.</p>"
                + "".join(disc_html) + "</section>")
    sections.extend(["profiles", "recommendations", "discovery"])
    return chosen
