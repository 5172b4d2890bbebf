"""audiotaste: listen to music and know who will like it.

``audiotaste.analyze(path)`` measures one recording; the stages live in subpackages that data flows
through one way: ``audio`` → ``features`` → ``tagger`` → ``analysis`` → ``catalogue`` → ``recommend``,
with ``cli`` and ``report`` on top (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Analysis", "AudiotasteError", "__version__", "analyze"]

if TYPE_CHECKING:
    from audiotaste.analysis import Analysis, analyze
    from audiotaste.errors import AudiotasteError


def __getattr__(name: str) -> Any:
    # Lazy: `import audiotaste` stays cheap (no torch) until analysis is actually used.
    if name in ("analyze", "Analysis"):
        from audiotaste import analysis

        return getattr(analysis, name)
    if name == "AudiotasteError":
        from audiotaste.errors import AudiotasteError

        return AudiotasteError
    raise AttributeError(f"module 'audiotaste' has no attribute {name!r}")
