"""Keeping libmpg123's notes off the terminal.

libsndfile decodes MP3 through libmpg123, which prints ``Note: Trying to resync...`` and the like
straight to file descriptor 2 from C, where Python's ``sys.stderr`` cannot catch it. A user tagging a
folder should see one clear line per bad file, not the decoder's diary; so while libsndfile reads an
MP3, descriptor 2 points at a scratch file, and what lands there is kept as the reason of a
:class:`~audiotaste.errors.DecodeError` if one follows. Lines that are not libmpg123's (another
thread's output, say) are passed on to the real stderr.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["NativeStderr"]

#: What libmpg123 writes: "Note: ...", "Warning: ...", "[src/libmpg123/...] error: ...".
_DECODER_LINE = re.compile(r"^(Note:|Warning:|\[[^\]]*mpg123[^\]]*\])|mpg123", re.IGNORECASE)


class NativeStderr:
    """Redirects descriptor 2 to a scratch file around native calls; :meth:`close` passes on what
    is not the decoder's and returns the decoder's lines."""

    def __init__(self) -> None:
        # kept open across many reads of one stream; close() closes it
        self._scratch = tempfile.TemporaryFile()  # noqa: SIM115
        self._closed = False

    @contextmanager
    def captured(self) -> Iterator[None]:
        """Within this block, whatever C code writes to descriptor 2 goes to the scratch file."""
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(self._scratch.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)

    def decoder_notes(self) -> str:
        """The decoder's lines so far, joined (the last few, for an error message)."""
        lines = [ln for ln in self._lines() if _DECODER_LINE.search(ln)]
        return " ".join(lines[-3:])

    def close(self) -> None:
        """Pass the lines that are not the decoder's on to the real stderr, and drop the scratch."""
        if self._closed:
            return
        self._closed = True
        other = [ln for ln in self._lines() if ln.strip() and not _DECODER_LINE.search(ln)]
        self._scratch.close()
        if other:
            sys.stderr.write("\n".join(other) + "\n")

    def _lines(self) -> list[str]:
        self._scratch.seek(0)
        return self._scratch.read().decode("utf-8", "replace").splitlines()
