"""``audiotaste analyze``: one file (or a few) to every descriptor and tag, as a table or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from audiotaste.errors import AudiotasteError

from .app import EXIT_OK, EXIT_SOME_FAILED, console, fail_usage, report_failure

__all__ = ["register"]


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _analysis_table(result: Any, hint: str | None = None) -> Table:
    table = Table(title=str(result.path), title_justify="left", show_header=False, box=None)
    table.add_column("what", style="bold cyan")
    table.add_column("value")
    notes = dict(n.split(": ", 1) for n in (result.notes or "").split("; ") if ": " in n)
    mode = "major" if result.mode == 1 else "minor"
    rows = [
        ("duration", f"{result.duration_s:.2f} s  ({result.sample_rate} Hz, {result.channels} ch)"),
        ("tempo", f"none ({notes.get('tempo', 'not measured')})" if result.tempo_bpm is None
         else f"{result.tempo_bpm:.1f} BPM  (confidence {result.tempo_confidence:.2f})"),
        ("time signature", "none" if result.time_signature is None else f"{result.time_signature}/4"),
        ("key", f"none ({notes.get('key', 'not measured')})" if result.key is None
         else f"{result.key_name} {mode}  (confidence {result.key_confidence:.2f})"),
        ("loudness", f"{result.loudness_lufs:.1f} LUFS  (range {result.loudness_range_lu:.1f} LU)"),
        ("energy", _fmt(result.energy)),
        ("danceability", _fmt(result.danceability)),
        ("brightness", _fmt(result.brightness)),
        ("onset rate", f"{result.onset_rate:.2f} /s"),
        *_affect_rows(result),
    ]
    for row in rows:
        table.add_row(*row)
    if "tags" in notes:
        table.add_row("tags", notes["tags"])
    for taxonomy, probs in result.tags.items():
        # 50 real-world tags need more than three to say something; genre/mood have a few dominant ones
        top = sorted(probs.items(), key=lambda kv: -kv[1])[: 5 if len(probs) > 20 else 3]
        label = _TAXONOMY_TITLES.get(taxonomy, taxonomy)
        table.add_row(label, ", ".join(f"{name} {p:.2f}" for name, p in top))
    main = result.model.split("+") if result.model else []  # "default@1.5.0+tags@1.0.0": the CNN and its head
    models = list(dict.fromkeys([*main, *result.tag_models.values()]))
    if models:
        table.add_row("model", " + ".join(models))
    if hint:
        table.add_row("note", f"[dim]{hint}[/]")
    table.add_row("time", f"{result.timings.get('total', 0.0):.2f} s")
    return table


def _affect_rows(result: Any) -> list[tuple[str, str]]:
    """Valence and arousal rows, or one row saying why there are none."""
    valence, arousal = getattr(result, "valence", None), getattr(result, "arousal", None)
    if valence is not None and arousal is not None:
        return [("valence", f"{valence:.2f}  (0 sad/angry - 1 happy)"), ("arousal", f"{arousal:.2f}  (0 calm - 1 energetic)")]
    notes = dict(n.split(": ", 1) for n in (result.notes or "").split("; ") if ": " in n)
    return [("valence/arousal", f"none ({notes.get('valence/arousal', 'not measured')})")]


#: How the table names a taxonomy (the JSON keeps the keys).
_TAXONOMY_TITLES = {"tag": "real-world tags"}


def _real_world_hint(tag_model: str | None) -> str | None:
    """One line on how to get musicnn's real-world tags (or the teacher's own), if there is more to get.

    ``tag_model`` is the model that produced the table's real-world tags (``name@version``), if any.
    """
    from audiotaste.analysis import REAL_WORLD_MODEL, REAL_WORLD_STUDENT, real_world_model

    if tag_model is not None:
        if tag_model.startswith(f"{REAL_WORLD_STUDENT}@"):
            return (f"from the shipped student of {REAL_WORLD_MODEL}; `audiotaste models fetch "
                    "musicnn` (once, from PyPI) gets the teacher itself")
        return None
    if real_world_model() == REAL_WORLD_MODEL:
        return (f"add --real-world for {REAL_WORLD_MODEL}'s 50 Last.fm tags "
                "(musicnn: about 3-4x the time of the rest of the analysis)")
    return (f"add --real-world for 50 Last.fm tags from the shipped student of {REAL_WORLD_MODEL}; "
            "`audiotaste models fetch musicnn` (once, from PyPI) gets the teacher itself")


def analyze(
    files: Annotated[list[Path], typer.Argument(help="Audio files (WAV, FLAC, OGG, MP3; M4A with ffmpeg).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (an object, or a list) and nothing else on stdout.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG: waveform, log-mel with beats, chroma with key.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Tagger name or folder (default: the shipped one).")] = None,
    no_tags: Annotated[bool, typer.Option("--no-tags", help="Skip the main tagger.")] = False,
    real_world: Annotated[bool, typer.Option("--real-world", help="Add 50 real-world tags (musicnn-msd's Last.fm tags) as taxonomy 'tag' next to genre/mood: from musicnn-msd once `audiotaste models fetch musicnn` has run, else from the shipped student distilled from it.")] = False,
    extra_model: Annotated[list[str] | None, typer.Option("--extra-model", help="Add this tagger's taxonomies too (repeatable; e.g. musicnn-mtt). --real-world is --extra-model musicnn-msd.")] = None,
) -> None:
    """Analyse audio files: tempo, key, loudness, descriptors and tags."""
    from audiotaste.analysis import analyze as run_analysis
    from audiotaste.analysis import real_world_model

    if plot is not None and len(files) != 1:
        raise fail_usage("--plot takes exactly one FILE")
    extras = tuple(dict.fromkeys([*([real_world_model()] if real_world else []), *(extra_model or [])]))
    results: list[dict[str, Any]] = []
    failed = 0
    for path in files:
        try:
            result = run_analysis(path, tags=not no_tags, model=model, extra_models=extras)
            if plot is not None:
                from audiotaste.report.figures import plot_analysis

                plot_analysis(path, result, plot)
        except AudiotasteError as exc:
            failed += 1
            report_failure(exc)
            if as_json:
                results.append({"path": str(path), "error": {"kind": exc.kind, "message": exc.reason}})
            continue
        if as_json:
            results.append(result.to_dict())
        else:
            hint = None if no_tags else _real_world_hint(result.tag_models.get("tag"))
            console.print(_analysis_table(result, hint))
            if plot is not None:
                console.print(f"plot written to {plot}")
    if as_json:
        sys.stdout.write(json.dumps(results[0] if len(files) == 1 else results, indent=2) + "\n")
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add ``analyze`` to the ``audiotaste`` app."""
    app.command("analyze")(analyze)
