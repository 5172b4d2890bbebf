"""``audiotaste tag`` and ``audiotaste export``: batch tagging into a catalogue, and converting it.

Exit codes: 0 all good, 1 some inputs failed (each one reported) or the catalogue is busy, 2 usage
error, 130 interrupted (finished work is saved; the same command resumes).
"""

from __future__ import annotations

import os
import signal
import time
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .app import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, fail_usage, handles_errors
from .app import err_console as console

__all__ = ["register"]

_MAX_LISTED = 50  # failures printed one per line; the rest are in the catalogue


class Engine(StrEnum):
    local = "local"
    ray = "ray"


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _summary_table(summary: Any, rate: float) -> Table:
    table = Table(title="audiotaste tag", title_justify="left")
    table.add_column("result")
    table.add_column("files", justify="right")
    table.add_row("analysed", str(summary.done))
    if summary.tags_added:
        table.add_row("tags added (rest of the analysis kept)", str(summary.tags_added))
    if summary.known:
        table.add_row("known content at a new path", str(summary.known))
    table.add_row("skipped (unchanged)", str(summary.skipped))
    if summary.skipped_failed:
        table.add_row("skipped (failed before, unchanged)", str(summary.skipped_failed))
    for kind, n in sorted(summary.failed.items()):
        table.add_row(f"[red]failed: {kind}[/]", str(n))
    table.caption = (f"{summary.seconds:.1f} s, {rate:.2f} files/s, "
                     f"peak worker memory {summary.peak_worker_mb:.0f} MB")
    return table


def tag(
    inputs: Annotated[list[Path], typer.Argument(help="Audio files and folders (walked recursively).",
                                                 show_default=False, metavar="DIR_OR_FILES")],
    db: Annotated[Path | None, typer.Option("--db", help="SQLite catalogue (created if missing).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write a Parquet dataset folder instead of SQLite.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-j", min=0, help="Worker processes / Ray actors (0: in this process).")] = len(os.sched_getaffinity(0)),
    engine: Annotated[Engine, typer.Option("--engine", help="local process pool or Ray Data.")] = Engine.local,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (default: start a local Ray).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo every file, changed or not.")] = False,
    retag: Annotated[bool, typer.Option("--retag", help="Re-tag unchanged files tagged by another model version.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Retry unchanged files that failed before.")] = False,
    model: Annotated[str | None, typer.Option("--model", help="Tagger name or folder (default: the shipped one).")] = None,
    no_tags: Annotated[bool, typer.Option("--no-tags", help="Descriptors only, no tagger.")] = False,
    real_world: Annotated[bool, typer.Option("--real-world", help="Also store 50 real-world tags (musicnn-msd's Last.fm tags) as tag.* columns; tracks already catalogued get only these added. From musicnn-msd once `audiotaste models fetch musicnn` has run, else from the shipped student distilled from it.")] = False,
    extra_model: Annotated[list[str] | None, typer.Option("--extra-model", help="Also store this tagger's taxonomies (repeatable). --real-world is --extra-model musicnn-msd.")] = None,
    wait: Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait for another tag run on the same catalogue.")] = 0.0,
    timeout: Annotated[float, typer.Option("--timeout", min=0, help="Seconds one file may take before it is stopped and recorded as failed (0: no limit; local engine).")] = 3600.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    analyzer: Annotated[str | None, typer.Option("--analyzer", hidden=True, help="module:function building a custom analyser (see AnalyzerSpec.factory).")] = None,
) -> None:
    """Analyse and tag every audio file under DIR_OR_FILES into a catalogue, incrementally."""
    from audiotaste.analysis import real_world_model
    from audiotaste.catalogue import AnalyzerSpec, Catalogue, run_batch
    from audiotaste.catalogue.export import ParquetCatalogue, display_path

    if (db is None) == (out is None):
        raise fail_usage("give exactly one of --db FILE or --out DIR")
    if address and engine is not Engine.ray:
        raise fail_usage("--address needs --engine ray")
    chosen = db if db is not None else out
    assert chosen is not None
    target = os.fspath(chosen)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    progress = Progress(TextColumn("tagging"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]} files/s"), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=console,
                        disable=quiet, transient=False)
    job = progress.add_task("tag", total=None, rate="-")
    started = [time.monotonic()]

    def planned(n: int) -> None:
        started[0] = time.monotonic()  # the rate counts analysis, not the walk
        progress.update(job, total=n)
        progress.start()

    def finished(rec: dict[str, Any]) -> None:
        done = progress.tasks[0].completed + 1
        rate = done / max(1e-9, time.monotonic() - started[0])
        progress.update(job, advance=1, rate=f"{rate:.2f}")

    try:
        sink: Any = ParquetCatalogue.open(target) if out is not None else Catalogue.open(target)
        try:
            extras = tuple(dict.fromkeys([*([real_world_model()] if real_world else []),
                                          *(extra_model or [])]))
            if extras:  # say now, not from every worker, that a model is missing and how to get it
                from audiotaste.analysis import load_extras

                load_extras(None, extras)
            spec = AnalyzerSpec(model=model, tags=not no_tags, factory=analyzer,
                                extra_models=extras)
            summary = run_batch([os.fspath(p) for p in inputs], sink, engine=engine.value,
                                workers=workers, spec=spec, force=force, retag=retag,
                                retry_failed=retry_failed, address=address,
                                lookup_db=target if out is None else None,
                                on_planned=planned, on_record=finished,
                                file_timeout_s=timeout or None, wait_s=wait)
        finally:
            progress.stop()
            sink.close()
    except KeyboardInterrupt:
        progress.stop()
        console.print("[yellow]interrupted[/] before any file was finished. Run the same command "
                      "again to resume.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    for path, kind, message in summary.failures[:_MAX_LISTED]:
        console.print(f"[red]failed[/] {escape(display_path(path))}: {escape(message)} [dim]({kind})[/]")
    if len(summary.failures) > _MAX_LISTED:
        console.print(f"… and {len(summary.failures) - _MAX_LISTED} more; all are in the catalogue's "
                      "failures (Catalogue.failures()).")
    console.print(_summary_table(summary, (summary.done + summary.tags_added)
                                 / max(1e-9, summary.seconds)))
    if summary.skipped_failed:
        console.print(f"{summary.skipped_failed} unchanged files failed before; "
                      "--retry-failed tries them again.")
    if summary.interrupted:
        console.print("[yellow]interrupted:[/] finished files are saved in "
                      f"{escape(target)}. Run the same command again to resume; finished files "
                      "are skipped.")
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_SOME_FAILED if summary.n_failed else EXIT_OK)


def export(
    output: Annotated[Path, typer.Argument(help="OUT.parquet, OUT.csv, OUT.jsonl (or OUT.sqlite from a Parquet catalogue).", show_default=False, metavar="OUT")],
    db: Annotated[Path, typer.Option("--db", help="SQLite catalogue or Parquet catalogue folder.")],
) -> None:
    """Convert a catalogue to Parquet, CSV or JSON lines (one row per track)."""
    from audiotaste.catalogue.export import EXPORT_FORMATS
    from audiotaste.catalogue.export import export as run_export

    if output.suffix.lower() not in EXPORT_FORMATS:
        raise fail_usage(f"{output}: the output must end in one of {', '.join(EXPORT_FORMATS)}")
    n = run_export(db, output)
    console.print(f"{n} tracks written to {output}")


def register(app: typer.Typer) -> None:
    """Add ``tag`` and ``export`` to the ``audiotaste`` command line."""
    app.command("tag")(handles_errors(tag))
    app.command("export")(handles_errors(export))
