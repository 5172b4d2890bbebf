"""``audiotaste profile`` and ``audiotaste recommend``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from audiotaste.catalogue.names import track_label
from audiotaste.errors import InputError
from audiotaste.report.figures import fmt_weight

from .app import console, handles_errors

__all__ = ["DbOpt", "EventsOpt", "load_history", "load_tracks", "name_tracks", "register"]

if TYPE_CHECKING:
    import pandas as pd

EventsOpt = Annotated[
    Path,
    typer.Option(
        "--events", help="Listening history: Spotify / ListenBrainz export, CSV or Parquet."
    ),
]
DbOpt = Annotated[Path, typer.Option("--db", help="Catalogue (SQLite) made by `audiotaste tag`.")]


def load_tracks(db: Path) -> pd.DataFrame:
    """The catalogue's tracks frame."""
    if not db.is_file():
        raise InputError(db, "no such catalogue")
    from audiotaste.catalogue import Catalogue

    with Catalogue.open(db, readonly=True) as cat:
        return cat.to_pandas()


def load_history(events_path: Path, tracks: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read and match events to the catalogue; returns the events and a report dict."""
    from audiotaste.recommend.events import match_tracks, read_events

    events = read_events(events_path)
    matched, match = match_tracks(events, tracks)
    return matched, {"read": events.attrs.get("report", {}), "match": match.to_dict()}


def name_tracks(tracks: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Fill ``artist`` and ``title`` the catalogue lacks (untagged files) from matched plays of an
    export that names them, so reasons and tables can name the tracks."""
    import pandas as pd

    if not {"artist_name", "track_name"} <= set(events.columns):
        return tracks
    names = events.dropna(subset=["artist_name", "track_name"]).drop_duplicates("track_id")
    names = names.set_index("track_id")
    tracks = tracks.copy()
    for col, src in (("artist", "artist_name"), ("title", "track_name")):
        from_plays = tracks["track_id"].map(names[src])
        known = tracks[col] if col in tracks else pd.Series(None, index=tracks.index)
        tracks[col] = known.where(known.notna() & (known.astype(str) != ""), from_plays)
    return tracks


def profile_command(events: pd.DataFrame, tracks: pd.DataFrame, user: str | None) -> dict[str, Any]:
    from audiotaste.recommend import TasteProfile

    return TasteProfile.from_events(events, tracks, user_id=user).to_dict()


def recommend_command(
    events: pd.DataFrame, tracks: pd.DataFrame, user: str, n: int = 20, cold_only: bool = False
) -> pd.DataFrame:
    """Fit on the whole history and recommend for ``user`` (a labelled default if it is empty)."""
    from audiotaste.recommend import Recommender

    rec = Recommender().fit(events, tracks)
    candidates = rec.track_ids_[rec.listens_ == 0] if cold_only else None
    if len(rec.user_ids_) == 0:
        return rec.recommend(None, n, candidates)
    return rec.recommend(user, n, candidates)


def _print_profile(p: dict[str, Any], report: dict[str, Any]) -> None:
    t = Table(
        title=f"taste profile of {p['user_id']}: {p['label']}",
        title_justify="left",
        show_header=False,
        box=None,
    )
    t.add_column("what", style="bold cyan")
    t.add_column("value")

    def top(d: dict[str, float], k: int = 5) -> str:
        return ", ".join(f"{a} {fmt_weight(b)}" for a, b in list(d.items())[:k]) or "-"

    rows = [
        ("plays", str(p["n_plays"])),
        ("genres", top(p["genres"])),
        ("moods", top(p["moods"])),
        (
            "tempo range",
            "-"
            if not p["tempo_range"]
            else f"{p['tempo_range'][0]:.0f}-{p['tempo_range'][1]:.0f} BPM",
        ),
        ("energy", "-" if p["energy"] is None else f"{p['energy']:.2f}"),
        ("danceability", "-" if p["danceability"] is None else f"{p['danceability']:.2f}"),
        ("keys", top(p["keys"])),
        ("top artists", top(p["top_artists"])),
        ("skip rate", "-" if p["skip_rate"] is None else f"{p['skip_rate']:.0%}"),
        (
            "listened fraction",
            "-" if p["mean_listened_fraction"] is None else f"{p['mean_listened_fraction']:.0%}",
        ),
        ("openness", "-" if p["openness"] is None else f"{p['openness']:.2f}"),
        (
            "weeks",
            "  ".join(
                f"{w['week']}: {w['top_genre'] or '-'} ({w['similarity']:.2f})"
                for w in p["drift"][-6:]
            )
            or "-",
        ),
        ("events", _report_line(report)),
    ]
    for r in rows:
        t.add_row(*r)
    console.print(t)


def _report_line(report: dict[str, Any]) -> str:
    read, match = report.get("read", {}), report.get("match", {})
    dropped = ", ".join(f"{k} {v}" for k, v in read.get("dropped", {}).items())
    return (
        f"{read.get('rows_kept', 0)} of {read.get('rows_read', 0)} rows kept"
        + (f" (dropped: {dropped})" if dropped else "")
        + f"; {match.get('unmatched', 0)} plays not in the catalogue"
    )


def register(app: typer.Typer) -> None:
    """Add ``profile`` and ``recommend`` to the ``audiotaste`` app."""

    @app.command()
    @handles_errors
    def profile(
        events: EventsOpt,
        db: DbOpt,
        user: Annotated[
            str | None,
            typer.Option("--user", help="Listener (needed when the history has several)."),
        ] = None,
        plot: Annotated[
            Path | None, typer.Option("--plot", help="Write the profile as a PNG.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    ) -> None:
        """Print a listener's taste profile: genres, moods, tempo, energy, keys, artists, skips, drift."""
        tracks = load_tracks(db)
        ev, report = load_history(events, tracks)
        tracks = name_tracks(tracks, ev)
        p = profile_command(ev, tracks, user)
        if plot is not None:
            from audiotaste.report.figures import plot_taste_profile

            plot_taste_profile(p, plot)
        if as_json:
            sys.stdout.write(json.dumps({"profile": p, "events": report}, indent=2) + "\n")
        else:
            _print_profile(p, report)

    @app.command()
    @handles_errors
    def recommend(
        events: EventsOpt,
        db: DbOpt,
        user: Annotated[str, typer.Option("--user", help="Listener to recommend for.")],
        n: Annotated[int, typer.Option("-n", min=1, help="How many tracks.")] = 20,
        cold_only: Annotated[
            bool, typer.Option("--cold-only", help="Only tracks nobody has played yet.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    ) -> None:
        """Recommend tracks for a listener, each with a score and the reason for it."""
        tracks = load_tracks(db)
        ev, report = load_history(events, tracks)
        tracks = name_tracks(tracks, ev)
        recs = recommend_command(ev, tracks, user, n, cold_only)
        if as_json:
            out = {
                "user_id": user,
                "events": report,
                "recommendations": recs.to_dict(orient="records"),
            }
            sys.stdout.write(json.dumps(out, indent=2, default=float) + "\n")
            return
        t = Table(title=f"recommendations for {user}", title_justify="left")
        for col in ("#", "track", "score", "reason"):
            t.add_column(col, overflow="fold")
        paths = (
            dict(zip(tracks["track_id"], tracks["path"], strict=True)) if "path" in tracks else {}
        )
        for k, r in enumerate(recs.itertuples(index=False), 1):
            name = track_label(r.artist, r.title, paths.get(r.track_id), r.track_id)
            t.add_row(str(k), name, f"{r.score:.3f}", r.reason)
        console.print(t)
        console.print(_report_line(report), style="dim")
