"""What audiotaste shows people, on top of every stage: figures and the HTML report.

- :mod:`.figures` — every figure (the CLI's PNGs: ``analyze --plot``, ``profile --plot``; the
  report's panels), sharing their helpers;
- :mod:`.page` — ``audiotaste report``: one self-contained HTML page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["MAX_TRACK_PANELS", "ReportResult", "build_report"]

if TYPE_CHECKING:
    from .page import MAX_TRACK_PANELS, ReportResult, build_report


def __getattr__(name: str) -> Any:
    # Lazy: the CLI imports .figures' light helpers at start-up; the page needs pandas.
    if name in __all__:
        from . import page

        return getattr(page, name)
    raise AttributeError(f"module 'audiotaste.report' has no attribute {name!r}")
