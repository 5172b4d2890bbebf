"""``audiotaste report``: the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import EXIT_OK, console, handles_errors

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``audiotaste`` app."""

    @app.command()
    @handles_errors
    def report(
        db: Annotated[Path, typer.Option("--db", help="Catalogue written by `audiotaste tag`.")],
        out: Annotated[Path, typer.Option("--out", help="Folder for index.html.")],
        events: Annotated[Path | None, typer.Option("--events", help="Listening history (any supported export).")] = None,
        user: Annotated[list[str] | None, typer.Option("--user", help="Listener(s) to show (default: the most active).")] = None,
        max_tracks: Annotated[int, typer.Option("--max-tracks", help="Tracks with a spectrogram panel.")] = 12,
    ) -> None:
        """Write a self-contained HTML report: tracks, tags, catalogue map, profiles, recommendations."""
        from audiotaste.report import build_report

        result = build_report(db, out, events=events, users=user or None, max_tracks=max_tracks)
        for warning in result.warnings:
            console.print(f"[yellow]note:[/] {warning}", highlight=False)
        console.print(f"report written to [bold]{result.path}[/] (sections: {', '.join(result.sections)})")
        raise typer.Exit(EXIT_OK)
