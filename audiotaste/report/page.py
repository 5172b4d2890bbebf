"""``audiotaste report``: one self-contained HTML page (no CDN, works offline) about a catalogue and
its listeners: per-track spectrograms with beats and key, tag bars and tags over time, a 2-D map of the
embeddings, taste profiles, recommendations and the discovery playlist, each with its reasons.

Images are PNGs embedded as data URIs, so the page is one file that can be mailed or archived.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from audiotaste._io import atomic_write_text
from audiotaste.errors import AudiotasteError, InputError

from .figures import (
    embedding_map,
    fmt_weight,
    profile_figure,
    reliability_figure,
    row_label,
    top_label,
    track_figure,
)

if TYPE_CHECKING:
    from audiotaste.tagger import Tagger

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


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _table(frame: pd.DataFrame, *, floats: int = 2) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for v in row:
            text = fmt_weight(float(v), floats) if isinstance(v, (float, np.floating)) else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


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
        "track": [row_label(r) for _, r in tracks.iterrows()],
        "tempo (BPM)": tracks.get("tempo_bpm", pd.Series(np.nan, index=tracks.index)).round(1),
        "key": [f"{r.get('key_name')} {'maj' if r.get('mode', 1) == 1 else 'min'}"
                if isinstance(r.get("key_name"), str) and r.get("key_name") else "no key"
                for _, r in tracks.iterrows()],
        "LUFS": tracks.get("loudness_lufs", pd.Series(np.nan, index=tracks.index)).round(1),
        "energy": tracks.get("energy", pd.Series(np.nan, index=tracks.index)),
        "top genre": top_label(tracks, "genre."),
        "top mood": top_label(tracks, "mood."),
    })
    body.append(f"<section id='catalogue'><h2>Catalogue · {len(tracks)} tracks</h2>{_table(overview)}</section>")
    sections.append("catalogue")

    panels = []
    for _, row in tracks.head(max_tracks).iterrows():
        try:
            panels.append(f"<h3>{html.escape(row_label(row))}</h3>{_img(track_figure(row, tagger), 'spectrogram')}")
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

    calibration = _calibration_section(warnings)
    if calibration:
        body.append(calibration)
        sections.append("calibration")

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
    atomic_write_text(target, page)
    return ReportResult(target, len(tracks), tuple(shown), tuple(sections), tuple(warnings))


def _calibration_section(warnings: list[str]) -> str | None:
    """How far the valence and arousal probabilities can be taken at their word on real music: the
    affect head's reliability diagram from its model card (``None`` without an affect head)."""
    from audiotaste.tagger.affect import load_affect_head

    try:
        head = load_affect_head()
    except AudiotasteError as exc:
        warnings.append(f"calibration section skipped: {exc}")
        return None
    if head is None:
        return None
    rel = head.card.get("metrics", {}).get("reliability")
    if not rel:
        warnings.append("the affect model's card has no reliability data (refit it with "
                        "scripts/train_real_heads.py to add it)")
        return None
    bins = {k: v for k, v in rel.items() if isinstance(v, dict)}
    caption = (f"Valence and arousal are probabilities: of 100 tracks given 0.7, about 70 should be "
               f"positive (or high); grey bars: the share of predictions in each bin. "
               f"Measured on {html.escape(str(rel.get('data', 'real recordings')))}.")
    return ("<section id='calibration'><h2>Calibration on real music</h2>"
            f"<p class='muted'>{caption}</p>"
            + _img(reliability_figure(bins, title="valence and arousal: reliability on real recordings"),
                   "reliability diagram") + _tag_head_reliability(warnings) + "</section>")


def _tag_head_reliability(warnings: list[str]) -> str:
    """The genre/mood head's reliability diagram from its card ('' without a head or without the data)."""
    from audiotaste.tagger.tag_head import load_tag_head

    try:
        head = load_tag_head()
    except AudiotasteError as exc:
        warnings.append(f"genre/mood calibration skipped: {exc}")
        return ""
    rel = {} if head is None else head.card.get("metrics", {}).get("reliability", {})
    bins = {k: v for k, v in rel.items() if isinstance(v, dict)}
    if not bins:
        return ""
    caption = (f"Genre and mood, each label a probability: measured on "
               f"{html.escape(str(rel.get('data', 'real recordings')))}.")
    return (f"<p class='muted'>{caption}</p>"
            + _img(reliability_figure(bins, title="genre and mood: reliability on real recordings"),
                   "genre and mood reliability diagram"))


def _tagger_for(tracks: pd.DataFrame, warnings: list[str]) -> Tagger | None:
    if not any(c.startswith("genre.") for c in tracks.columns):
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
    names = {r["track_id"]: row_label(r) for _, r in tracks.iterrows()}
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
