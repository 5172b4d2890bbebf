"""``audiotaste train`` and ``audiotaste models list | fetch``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from .app import EXIT_SOME_FAILED, err_console, fail_usage, handles_errors

__all__ = ["register"]


def train_command(
    data: Annotated[Path, typer.Option("--data", help="Manifest/CSV (path + genre/moods/labels columns) or a folder per label.")],
    out: Annotated[Path, typer.Option("--out", help="Model folder to write, e.g. models/mine.")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.safetensors.")] = False,
    epochs: Annotated[int, typer.Option(min=1)] = 40,
    patience: Annotated[int, typer.Option(min=1, help="Stop after this many epochs without improvement.")] = 6,
    batch_size: Annotated[int, typer.Option(min=2)] = 64,
    crops: Annotated[int, typer.Option(min=1, help="Random patches per training clip per epoch.")] = 4,
    lr: Annotated[float, typer.Option(min=0.0)] = 2e-3,
    seed: int = 0,
    cache: Annotated[Path | None, typer.Option(help="Log-mel cache folder (default: the user cache).")] = None,
    threads: Annotated[int, typer.Option(min=1, help="Torch CPU threads.")] = 1,
    name: Annotated[str | None, typer.Option(help="Model name in the card (default: OUT's folder name).")] = None,
    version: str = "1.0.0",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    init: Annotated[Path | None, typer.Option(help="Start from this model folder's weights (same labels).")] = None,
    norm: Annotated[str, typer.Option(help="Input normalisation: band (mean dB per band) or patch (mean dB).")] = "band",
) -> None:
    """Train a genre/mood tagger on labelled audio (seeded, resumable, early-stopped)."""
    import torch

    from audiotaste.tagger.train import TrainConfig, train

    torch.set_num_threads(threads)
    if norm not in ("patch", "band"):
        raise fail_usage(f"--norm must be patch or band, not {norm!r}")
    cfg = TrainConfig(
        epochs=epochs, patience=patience, batch_size=batch_size, crops_per_clip=crops, lr=lr, seed=seed, norm=norm
    )
    card = train(
        data, out, config=cfg, resume=resume, cache=cache, name=name, version=version,
        command=shlex.join(["audiotaste", *sys.argv[1:]]), progress=progress, init=init,
    )
    for split, m in card["metrics"].items():
        heads = ", ".join(f"{t} AUC {m[t]['macro_auc']:.3f} ECE {m[t]['ece']:.3f}" for t in card["labels"])
        typer.echo(f"{split} ({m['n']} clips): {heads}")
    typer.echo(f"wrote {out}")


def list_command() -> None:
    """Show installed tagger models (shipped, then the user cache)."""
    import json

    from audiotaste.tagger import find_models

    rows = find_models()
    if not rows:
        typer.echo("no models installed")
        return
    for folder in rows:
        # read loosely: third-party cards (musicnn) have their own fields; load_model checks them
        try:
            card = json.loads((folder / "card.json").read_text())
            labels = ", ".join(f"{len(v)} {k}" for k, v in card.get("labels", {}).items())
            name, version = str(card.get("name", folder.name)), str(card.get("version", "?"))
        except (OSError, ValueError, AttributeError, TypeError):
            typer.echo(f"{folder.name:20s} (unreadable card)  {folder}")
            continue
        typer.echo(f"{name:20s} {version:8s} {labels:24s} {folder}")


def fetch_command(name: Annotated[str, typer.Argument(help="musicnn (both), musicnn-msd or musicnn-mtt.")]) -> None:
    """Fetch a third-party model into the user cache (explicitly; nothing is downloaded implicitly)."""
    from audiotaste._paths import cache_dir

    if name not in ("musicnn", "musicnn-msd", "musicnn-mtt"):
        raise fail_usage(f"unknown model {name!r}; known: musicnn")
    try:
        from audiotaste.tagger.fetch import fetch_musicnn
    except ImportError:
        err_console.print("[bold red]error:[/] this installation has no musicnn fetcher")
        raise typer.Exit(EXIT_SOME_FAILED) from None
    written = fetch_musicnn(cache_dir())
    for folder in written:
        typer.echo(f"wrote {folder}")


def register(app: typer.Typer) -> None:
    """Add ``train`` and the ``models`` group to the main app."""
    app.command("train")(handles_errors(train_command))
    models = typer.Typer(help="Tagger models: list what is installed, fetch third-party ones.", no_args_is_help=True)
    models.command("list")(list_command)
    models.command("fetch")(handles_errors(fetch_command))
    app.add_typer(models, name="models")
