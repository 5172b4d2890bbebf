"""``analyze``: one call from a file (or samples) to every descriptor and tag audiotaste knows.

Sits between the tagger and the catalogue in the one-way flow: it uses ``audio``, ``features`` and
``tagger``; ``catalogue`` and everything above use it. Its rooms:

- :mod:`.schema` — the result: :class:`Analysis`, :class:`ExtraTags`, :data:`DESCRIPTOR_FIELDS`;
- :mod:`.run` — :func:`analyze`, the segment loop and the vote that combines segments;
- :mod:`.models` — which taggers run (:func:`load_tagger`, :func:`load_extras`, ``--real-world``);
- :mod:`.extras` — extra taggers listening along, and :func:`extra_tags` alone;
- :mod:`.source` — a file or an array as decoded blocks.

Importing this package loads neither torch nor soxr: they are imported where a signal is processed.
"""

from __future__ import annotations

from audiotaste.constants import ANALYSIS_SR, KEY_NAMES

from .affect import tagging_id
from .extras import extra_tags
from .models import REAL_WORLD_MODEL, REAL_WORLD_STUDENT, load_extras, load_tagger, real_world_model
from .run import MIN_ANALYSIS_S, SEGMENT_S, analyze
from .schema import DESCRIPTOR_FIELDS, Analysis, ExtraTags

__all__ = [
    "ANALYSIS_SR",
    "DESCRIPTOR_FIELDS",
    "KEY_NAMES",
    "MIN_ANALYSIS_S",
    "REAL_WORLD_MODEL",
    "REAL_WORLD_STUDENT",
    "SEGMENT_S",
    "Analysis",
    "ExtraTags",
    "analyze",
    "extra_tags",
    "load_extras",
    "load_tagger",
    "real_world_model",
    "tagging_id",
]
