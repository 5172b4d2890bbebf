"""The ``audiotaste`` app itself: its consoles, ``--verbose``, and the one way a failure is printed.

Exit codes (``../shared/API.md``): 0 all good, 1 some inputs failed (each one reported), 2 usage
error, 130 interrupted. Expected failures (an ``AudiotasteError``) print one line naming the input and
the reason, never a traceback; ``--verbose`` (before or after the sub-command) adds it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from audiotaste.errors import AudiotasteError

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "app",
    "console",
    "err_console",
    "fail_usage",
    "handles_errors",
    "main",
    "report_failure",
]

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

console = Console()
#: Messages, progress and failures: stderr, unhighlighted and unwrapped so they stay greppable.
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_VERBOSE_FLAGS = ("--verbose", "-v")
_state = {"verbose": False}

P = ParamSpec("P")
R = TypeVar("R")


class _Group(TyperGroup):
    """The root group: ``-v``/``--verbose`` is taken wherever it stands (``audiotaste -v analyze x``
    and ``audiotaste analyze x --verbose`` alike), up to a ``--`` that ends the options."""

    # ctx is typer's vendored click Context (typer._click is private): typed Any
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        _state["verbose"] = any(a in _VERBOSE_FLAGS for a in args[:end])
        kept = [a for a in args[:end] if a not in _VERBOSE_FLAGS] + args[end:]
        return super().parse_args(ctx, kept)


app = typer.Typer(
    name="audiotaste",
    cls=_Group,
    help="Listen to music and know who will like it: analyse, tag, profile, recommend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Show tracebacks of failures (also after the sub-command).")] = False,
) -> None:
    # parse_args has already read the flag wherever it stood; this option is its --help entry
    _state["verbose"] = _state["verbose"] or verbose


def report_failure(error: BaseException) -> None:
    """Print one failure on stderr, naming the input and the reason (its traceback under ``--verbose``)."""
    if _state["verbose"]:
        err_console.print_exception()
    message = str(error) if isinstance(error, AudiotasteError) else f"{type(error).__name__}: {error}"
    err_console.print(f"[bold red]error:[/] {escape(message)}")


def fail_usage(message: str) -> typer.Exit:
    """Print a usage error and return the exception that exits with code 2."""
    err_console.print(f"[bold red]usage error:[/] {escape(message)}")
    return typer.Exit(EXIT_USAGE)


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so that an expected failure prints one line (:func:`report_failure`) and exits
    with code 1, the same in every command (typer reads the wrapped signature)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except AudiotasteError as exc:
            report_failure(exc)
            raise typer.Exit(EXIT_SOME_FAILED) from None

    return wrapper


def main() -> None:
    """Console-script entry point (``audiotaste = "audiotaste.cli:main"``)."""
    try:
        app()
    except AudiotasteError as exc:  # raised outside a command (e.g. while parsing); still one line
        report_failure(exc)
        sys.exit(EXIT_SOME_FAILED)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
