"""``audiotaste discover``: this week's discovery playlist, grouped by shelf, with reasons."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from audiotaste.cli_recommend import DbOpt, EventsOpt
from audiotaste.errors import AudiotasteError


def discover_command(
    events: pd.DataFrame,
    tracks: pd.DataFrame,
    user: str,
    *,
    size: int = 30,
    minutes: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit on the whole history and build ``user``'s playlist; returns it and the bandit's beliefs.

    A listener absent from the history gets a labelled default (named in ``attrs["unmet"]``).
    """
    from audiotaste.recommend import Recommender
    from audiotaste.recommend.explore import Discovery

    rec = Recommender().fit(events, tracks)
    disc = Discovery(rec, size, tracks=tracks)
    known = user in set(rec.user_ids_)
    playlist = disc.playlist(user if known else None, minutes=minutes)
    if not known and len(rec.user_ids_):
        playlist.attrs["unmet"][0] = (
            f"history: {user!r} is not in the listening history, so popular and new tracks stand in"
        )
    return playlist, disc.beliefs(user)


def _print(playlist: pd.DataFrame, beliefs: pd.DataFrame, user: str, explain: bool) -> None:
    from audiotaste.cli import console

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
            name = f"{r.artist} - {r.title}" if r.artist or r.title else r.track_id
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
    ) -> None:
        """This week's discovery playlist: unheard tracks on explained shelves, in an order that flows."""
        from audiotaste.cli import report_failure
        from audiotaste.cli_recommend import load_history, load_tracks

        try:
            tracks = load_tracks(db)
            ev, report = load_history(events, tracks)
            playlist, beliefs = discover_command(ev, tracks, user, size=n, minutes=minutes)
            doc = _json(playlist, beliefs, report)
            if out is not None:
                text = (
                    json.dumps(doc, indent=1, ensure_ascii=False)
                    if out.suffix.lower() == ".json"
                    else _m3u8(playlist)
                )
                try:
                    out.write_text(text, encoding="utf-8")
                except OSError as exc:
                    from audiotaste.errors import InputError

                    raise InputError(out, f"cannot write the playlist ({exc.strerror})") from None
        except AudiotasteError as exc:
            report_failure(exc)
            raise typer.Exit(1) from None
        if as_json:
            sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
            return
        _print(playlist, beliefs, user, explain)
        if out is not None:
            from audiotaste.cli import console

            console.print(f"wrote {out}", style="dim", highlight=False)


def _m3u8(playlist: pd.DataFrame) -> str:
    from audiotaste.recommend.playlist import m3u8_text

    return m3u8_text(playlist)
