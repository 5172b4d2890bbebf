"""The catalogue stage: a SQLite store of analysed tracks, and batch tagging into it.

``Catalogue.open(path)`` gives the store; ``run_batch`` (behind ``audiotaste tag``) walks folders,
skips what has not changed, analyses the rest on a local process pool or Ray, and writes the results.
"""

from audiotaste.catalogue.batch import (
    AnalyzerSpec,
    BatchSummary,
    CatalogueBusyError,
    process_file,
    run_batch,
)
from audiotaste.catalogue.store import Catalogue
from audiotaste.catalogue.walk import AUDIO_EXTENSIONS, track_id_of, walk

__all__ = [
    "AUDIO_EXTENSIONS",
    "AnalyzerSpec",
    "BatchSummary",
    "Catalogue",
    "CatalogueBusyError",
    "process_file",
    "run_batch",
    "track_id_of",
    "walk",
]
