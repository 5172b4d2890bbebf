"""The ``audiotaste`` command line: one module per command group, on top of every stage.

- :mod:`.app` — the app, ``--verbose``, exit codes, and the one way failures are printed;
- :mod:`.analyze` — ``analyze``;
- :mod:`.catalogue` — ``tag``, ``export``;
- :mod:`.tagger` — ``train``, ``models list | fetch``;
- :mod:`.recommend` — ``profile``, ``recommend``;
- :mod:`.discover` — ``discover``;
- :mod:`.report` — ``report``.

Each command module imports its heavy dependencies inside the command, so ``audiotaste --help`` and
``audiotaste analyze`` start fast.
"""

from __future__ import annotations

from . import analyze, catalogue, discover, recommend, report, tagger
from .app import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    app,
    console,
    err_console,
    fail_usage,
    handles_errors,
    main,
    report_failure,
)

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

for _group in (analyze, catalogue, tagger, recommend, discover, report):
    _group.register(app)
