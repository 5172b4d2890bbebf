"""``audiotaste discover``: this week's discovery playlist, grouped by shelf, with reasons."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from audiotaste._io import atomic_write_text
from audiotaste.catalogue.names import split_file_name, track_label
from audiotaste.errors import InputError

from . import recommend as recommend_cli
from .app import console, handles_errors
from .recommend import DbOpt, EventsOpt

__all__ = ["discover_command", "register", "state_path"]

if TYPE_CHECKING:
    import pandas as pd


def state_path(db: Path) -> Path:
    """Where ``discover`` keeps its state by default: beside the catalogue,
    ``catalogue.sqlite`` -> ``catalogue.discovery.json``."""
    return db.with_name(db.stem + ".discovery.json")


def discover_command(
    events: pd.DataFrame,
    tracks: pd.DataFrame,
    user: str,
    *,
    size: int = 30,
    minutes: float | None = None,
    state: Path | None = None,
    deliver: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit on the whole history and build ``user``'s playlist; returns it and the bandit's beliefs.

    With ``state``, the bandit's beliefs and the impressions log are read from that file when it
    exists and written back afterwards: the events newer than each listener's last playlist
    are that playlist's feedback (they update the bandit and the re-ranker before this week's
    playlist is drawn), and the new playlist is logged as served at the history's latest event.
    A corrupt state file is an :class:`~audiotaste.errors.InputError`, never silently replaced.
    ``deliver(playlist, beliefs)`` runs before the state is written, so a playlist that could not
    be delivered (it raised) is not logged as served.
    A listener absent from the history gets a labelled default (named in ``attrs["unmet"]``).
    """
    import pandas as pd

    from audiotaste.recommend import Recommender
    from audiotaste.recommend.explore import Discovery

    rec = Recommender().fit(events, tracks)
    if state is not None and state.exists():
        disc = Discovery.load(state, rec, tracks=tracks)
        disc.size = size
        feedback = disc.new_feedback(events)
        if len(feedback):
            # The recommender was just fitted on the whole history, feedback included.
            disc.update(feedback, refit=False)
    else:
        disc = Discovery(rec, size, tracks=tracks)
    known = user in set(rec.user_ids_)
    served = pd.to_datetime(events["timestamp"], utc=True).max() if len(events) else None
    playlist = disc.playlist(
        user if known else None, minutes=minutes, served_at=None if pd.isna(served) else served
    )
    if not known and len(rec.user_ids_):
        playlist.attrs["unmet"][0] = (
            f"history: {user!r} is not in the listening history, so popular and new tracks stand in"
        )
    beliefs = disc.beliefs(user)
    if deliver is not None:
        deliver(playlist, beliefs)
    if state is not None:
        disc.save(state)
    return playlist, beliefs


def _print(playlist: pd.DataFrame, beliefs: pd.DataFrame, user: str, explain: bool) -> None:
    minutes = playlist["duration_s"].fillna(0).sum() / 60
    console.print(
        f"[bold]discovery playlist for {user}[/]: {len(playlist)} tracks, {minutes:.0f} min",
        highlight=False,
    )
    for shelf, rows in playlist.groupby("shelf", sort=False):
        t = Table(title=str(shelf), title_justify="left", title_style="bold cyan")
        for col in ("#", "track", "reason"):
            t.add_column(col, overflow="fold")
        for r in rows.itertuples(index=False):
            name = track_label(r.artist, r.title, getattr(r, "path", None), r.track_id)
            t.add_row(str(r.position), name, r.reason)
        console.print(t)
    for note in playlist.attrs.get("unmet", []):
        console.print(f"note: {note}", style="yellow", highlight=False)
    if explain:
        t = Table(
            title="the bandit's beliefs (full-play rate per shelf; priors until feedback arrives)",
            title_justify="left",
        )
        for col in ("shelf", "alpha", "beta", "expected full plays", "chance per slot"):
            t.add_column(col)
        for b in beliefs.itertuples(index=False):
            t.add_row(
                b.arm, f"{b.alpha:.1f}", f"{b.beta:.1f}", f"{b.mean:.0%}", f"{b.p_choose:.0%}"
            )
        console.print(t)
        flow = playlist.attrs.get("flow", {})
        console.print(
            "flow: " + ", ".join(f"{k} {v:.2f}" for k, v in flow.items() if v == v)  # NaN: unknown
            or "flow: unknown",
            style="dim",
        )


def _json(playlist: pd.DataFrame, beliefs: pd.DataFrame, report: dict[str, Any]) -> dict[str, Any]:
    from audiotaste.recommend.playlist import Playlist

    doc = Playlist(
        playlist.reset_index(drop=True),
        tuple(playlist.attrs.get("unmet", ())),
        dict(playlist.attrs.get("flow", {})),
    ).to_dict()
    doc["beliefs"] = json.loads(beliefs.to_json(orient="records", double_precision=4))
    doc["events"] = report
    return doc


def register(app: typer.Typer) -> None:
    """Add ``discover`` to the ``audiotaste`` app."""

    @app.command()
    @handles_errors
    def discover(
        events: EventsOpt,
        db: DbOpt,
        user: Annotated[str, typer.Option("--user", help="Listener to build the playlist for.")],
        minutes: Annotated[
            float | None,
            typer.Option(
                "--minutes", min=1, help="Fill by duration (e.g. 120) instead of -n tracks."
            ),
        ] = None,
        n: Annotated[
            int, typer.Option("-n", min=1, help="Tracks, when --minutes is not given.")
        ] = 30,
        out: Annotated[
            Path | None,
            typer.Option(
                "--out", help="Write the playlist: .m3u8/.m3u (paths) or .json (reasons)."
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
        explain: Annotated[
            bool, typer.Option("--explain", help="Also show the bandit's beliefs and the flow.")
        ] = False,
        state: Annotated[
            Path | None,
            typer.Option(
                "--state",
                help="The bandit's beliefs and impressions log, kept between runs "
                "(default: beside the catalogue, NAME.discovery.json).",
            ),
        ] = None,
        no_state: Annotated[
            bool,
            typer.Option("--no-state", help="Neither read nor write the state (a one-off)."),
        ] = False,
    ) -> None:
        """This week's discovery playlist: unheard tracks on explained shelves, in an order that flows.

        Run it weekly with a growing events file: plays newer than a listener's last playlist
        are its feedback, and the bandit kept in the state file learns from them.
        """
        # through the module, so that tests can stand a frame in for the catalogue
        tracks = recommend_cli.load_tracks(db)
        ev, report = recommend_cli.load_history(events, tracks)
        where = None if no_state else (state or state_path(db))
        doc: dict[str, Any] = {}

        def deliver(playlist: pd.DataFrame, beliefs: pd.DataFrame) -> None:
            doc.update(_json(playlist, beliefs, report))
            doc["state"] = None if where is None else str(where)
            if out is None:
                return
            text = (
                json.dumps(doc, indent=1, ensure_ascii=False)
                if out.suffix.lower() == ".json"
                else _m3u8(playlist)
            )
            if not out.parent.is_dir():  # a typo in --out is an error, not a new folder
                raise InputError(out, f"cannot write the playlist (no folder {out.parent})")
            try:
                atomic_write_text(out, text)
            except OSError as exc:
                raise InputError(out, f"cannot write the playlist ({exc.strerror})") from None

        playlist, beliefs = discover_command(
            ev, tracks, user, size=n, minutes=minutes, state=where, deliver=deliver
        )
        if as_json:
            sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
            return
        _print(playlist, beliefs, user, explain)
        if out is not None:
            console.print(f"wrote {out}", style="dim", highlight=False)


def _m3u8(playlist: pd.DataFrame) -> str:
    """The playlist as M3U8; untagged files are titled ``Artist - Title`` from their file names
    (a player shows ``#EXTINF``'s title; a content hash means nothing to a listener)."""
    from audiotaste.recommend.playlist import m3u8_text

    named = playlist.copy()
    for col in ("artist", "title", "path"):
        if col not in named:
            named[col] = None
    for i, row in named.iterrows():
        has_tags = any(isinstance(row[c], str) and row[c].strip() for c in ("artist", "title"))
        if not has_tags and isinstance(row["path"], str) and row["path"]:
            named.loc[i, ["artist", "title"]] = split_file_name(row["path"])
    return m3u8_text(named)
