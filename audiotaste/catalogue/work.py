"""One file's work, the same on every engine: hash it, skip content already analysed, else analyse it.

:func:`process_file` returns a plain JSON-able *record* and never raises for a bad file; workers build
their analyser once (:meth:`AnalyzerSpec.build`). The engines (:mod:`.engines`) run it; the batch
(:mod:`.batch`) plans the tasks and writes the records.
"""

from __future__ import annotations

import importlib
import os
import resource
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from audiotaste.analysis import REAL_WORLD_MODEL, REAL_WORLD_STUDENT, Analysis
from audiotaste.catalogue.store import FILE_TAGS, analysis_fields
from audiotaste.catalogue.walk import FileChangedError, os_error, track_id_of
from audiotaste.errors import AudiotasteError

__all__ = [
    "AnalyzeFn",
    "Analyzer",
    "AnalyzerSpec",
    "Lookup",
    "TagLookup",
    "file_tags",
    "model_name",
    "process_file",
    "serves_for",
    "set_single_thread",
]

AnalyzeFn = Callable[[str], Analysis]
#: ``lookup(track_id) -> (present, model)``: what a catalogue already holds for some content.
Lookup = Callable[[str], tuple[bool, str | None]]
#: ``tag_lookup(track_id) -> {taxonomy: model}``: which model made each stored taxonomy of a track.
TagLookup = Callable[[str], dict[str, str]]


@dataclass(frozen=True)
class AnalyzerSpec:
    """How a worker builds its analyser (picklable, so it can travel to processes and Ray actors).

    Parameters
    ----------
    model
        Tagger name or folder for ``audiotaste.tagger.load_model``; ``None`` for the shipped
        ``"default"`` (which, like any model, must load: ``ModelError`` otherwise).
    tags
        Run the tagger at all.
    factory
        ``"module:function"`` returning ``(analyze_fn, model_id)`` for a given spec, replacing
        ``audiotaste.analyze`` (custom pipelines, tests).
    extra_models
        More taggers whose taxonomies are stored next to the main tagger's, e.g. ``("musicnn-msd",)``
        for musicnn's real-world ``tag.*`` columns (see ``audiotaste.analyze``). Each must load.
    """

    model: str | None = None
    tags: bool = True
    factory: str | None = None
    extra_models: tuple[str, ...] = ()

    def build(self) -> tuple[AnalyzeFn, str | None]:
        """The analyser ``path -> Analysis`` and the ``"name@version"`` of its tagger (or None).

        Raises
        ------
        ModelError
            A model that cannot be loaded (missing or corrupt), the default included.
        """
        if self.factory:
            module, _, attr = self.factory.partition(":")
            built: tuple[AnalyzeFn, str | None] = getattr(importlib.import_module(module), attr)(self)
            return built
        from audiotaste.analysis import load_extras, tagging_id
        from audiotaste.tagger import load_model

        # loaded once per worker, here; a missing or corrupt model stops the batch before any file
        # (a catalogue silently without tags would look complete)
        tagger = load_model(self.model or "default") if self.tags else None
        model_id = None if tagger is None else tagging_id(f"{tagger.name}@{tagger.version}")
        extras = load_extras(tagger, self.extra_models)  # fails here, once, when one is missing
        extra_ids = {tax: f"{t.name}@{t.version}" for t in extras for tax in t.labels}
        return Analyzer(tags=self.tags, model=self.model, extra_models=tuple(self.extra_models),
                        extra_ids=extra_ids), model_id


@dataclass(frozen=True)
class Analyzer:
    """The analyser ``AnalyzerSpec.build`` makes: ``analyzer(path) -> Analysis``.

    Attributes
    ----------
    tags, model, extra_models
        As ``audiotaste.analyze``'s arguments.
    extra_ids
        ``{taxonomy: "name@version"}`` the extra models produce, to tell which stored tracks lack them.
    """

    tags: bool
    model: str | None
    extra_models: tuple[str, ...]
    extra_ids: Mapping[str, str]

    def __call__(self, path: str) -> Analysis:
        from audiotaste.analysis import analyze

        return analyze(path, tags=self.tags, model=self.model, extra_models=self.extra_models)

    def extra_tags(self, path: str) -> Any:
        """Only the extra models' taxonomies (``audiotaste.analysis.ExtraTags``)."""
        from audiotaste.analysis import extra_tags

        return extra_tags(path, self.extra_models)


def set_single_thread() -> None:
    """One compute thread per worker: parallelism comes from the workers, not from BLAS/torch."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass


def process_file(analyze_fn: AnalyzeFn, task: Mapping[str, Any], *, model_id: str | None,
                 lookup: Lookup | None = None,
                 tag_lookup: TagLookup | None = None) -> dict[str, Any]:
    """Do one file's work and return its record (never raises for a bad file).

    Parameters
    ----------
    analyze_fn
        The worker's analyser.
    task
        ``path``, ``size``, ``mtime_ns``; ``force`` (analyse even known content); ``retag`` (analyse
        known content whose model differs from ``model_id``); for unchanged files, ``track_id`` and
        ``stored_model``, and with extra models ``stored_tag_models`` (``{taxonomy: model}``) and
        ``merge`` (the sink can add taxonomies to a stored track, so only the missing ones are
        computed; otherwise the file is analysed again).
    model_id
        ``"name@version"`` of the worker's tagger.
    lookup
        What the catalogue holds for a content id (``None``: assume nothing, e.g. on a cluster).
    tag_lookup
        Which models made the stored taxonomies of a content id, so that known content at a new
        path also gets the extra models' taxonomies it lacks (``None``: not known).

    Returns
    -------
    dict
        ``path``, ``size``, ``mtime_ns``, ``status`` (``"ok"``, ``"known"``, ``"unchanged"``,
        ``"tags"`` or ``"failed"``), ``track_id``, ``fields`` and ``file_tags`` (ok), ``fields``
        with only ``tags``, ``tag_models`` and ``timings`` (tags, and known when its content lacked
        some: taxonomies to add to the stored track), ``kind`` and ``message`` (failed),
        ``seconds``, ``cpu_s`` and ``timings`` (s), ``rss_mb`` (the worker's peak resident memory, MB),
        ``pid``.
    """
    t0, cpu0 = time.perf_counter(), time.process_time()
    path = task["path"]
    rec: dict[str, Any] = {"path": path, "size": task["size"], "mtime_ns": task["mtime_ns"],
                           "track_id": task.get("track_id"), "pid": os.getpid()}
    try:
        if rec["track_id"] is None:
            before = _stat(path)
            rec["track_id"] = track_id_of(path)
            after = _stat(path)
            rec["size"], rec["mtime_ns"] = after
            if before != after:
                raise FileChangedError(path, "changed while being read (still being copied?)")
        rec["timings"] = {"hash": time.perf_counter() - t0}
        extra_ids = getattr(analyze_fn, "extra_ids", None) or {}
        stored_tags, merge = task.get("stored_tag_models"), bool(task.get("merge"))
        if "stored_model" in task:
            present, stored = True, task["stored_model"]
        else:
            present, stored = lookup(rec["track_id"]) if lookup else (False, None)
            if present and extra_ids and tag_lookup is not None:
                stored_tags, merge = tag_lookup(rec["track_id"]), True  # the catalogue merges
        stale = _stale_taxonomies(extra_ids, stored_tags, exact=bool(task.get("retag")))
        if present and not task.get("force") and not (task.get("retag") and stored != model_id):
            status = "unchanged" if "stored_model" in task else "known"
            if not stale:
                rec["status"] = status
            elif merge and hasattr(analyze_fn, "extra_tags"):
                # the rest of the analysis is stored and still valid: add the missing taxonomies
                more = analyze_fn.extra_tags(path)
                rec["fields"] = {"tags": {t: dict(p) for t, p in more.tags.items()},
                                 "tag_models": dict(more.tag_models), "timings": dict(more.timings)}
                rec["status"] = "tags" if status == "unchanged" else "known"
            else:
                _analyse_whole(analyze_fn, path, rec)
        else:
            _analyse_whole(analyze_fn, path, rec)
    except AudiotasteError as exc:
        rec.update(status="failed", kind=exc.kind, message=exc.reason)
    except MemoryError:
        rec.update(status="failed", kind="memory", message="ran out of memory while analysing it")
    except Exception as exc:  # a bug or an unforeseen input: record it, keep the batch going
        rec.update(status="failed", kind="internal", message=f"{type(exc).__name__}: {exc}")
    rec["seconds"] = time.perf_counter() - t0
    rec["cpu_s"] = time.process_time() - cpu0
    rec["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return rec


def _analyse_whole(analyze_fn: AnalyzeFn, path: str, rec: dict[str, Any]) -> None:
    rec["fields"] = analysis_fields(analyze_fn(path))
    rec["file_tags"] = file_tags(path)
    rec["status"] = "ok"


def model_name(model_id: str | None) -> str | None:
    return None if model_id is None else model_id.rpartition("@")[0] or model_id


def serves_for(stored: str | None, wanted: str | None, *, exact: bool = False) -> bool:
    """Whether tags stored from model ``stored`` stand for those of ``wanted`` (``name@version`` or
    names): the same model (``exact``: the same version too, as ``--retag`` asks), or the teacher
    of the wanted student in any version (``--real-world`` without the fetch, ``--retag`` or not,
    never replaces musicnn's own tags with its student's)."""
    if model_name(wanted) == REAL_WORLD_STUDENT and model_name(stored) == REAL_WORLD_MODEL:
        return True
    return stored == wanted if exact else model_name(stored) == model_name(wanted)


def _stale_taxonomies(extra_ids: Mapping[str, str], stored: Mapping[str, str] | None, *,
                      exact: bool) -> list[str]:
    """Taxonomies the extra models produce that a stored track lacks, or has from another model
    (``exact``: another version of it too, as ``--retag`` asks). ``stored=None``: not known here."""
    if stored is None:
        return []
    return [tax for tax, mid in extra_ids.items()
            if not serves_for(stored.get(tax), mid, exact=exact)]


def file_tags(path: str) -> dict[str, str]:
    """``artist``, ``title``, ``album`` as the file's own tags give them (ID3, Vorbis comments, RIFF
    INFO); missing or unreadable tags are simply absent."""
    import soundfile as sf

    try:
        with sf.SoundFile(os.fsencode(path)) as f:  # bytes: file names need not be UTF-8
            meta = f.copy_metadata()
    except Exception:  # tags are a bonus: a file that analysed fine never fails on them
        return {}
    return {k: v.strip() for k, v in meta.items() if k in FILE_TAGS and v and v.strip()}


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise os_error(path, exc) from None
    return st.st_size, st.st_mtime_ns
