"""Batch tagging: decide what to (re)do, run the per-file work on an engine, write every result.

The per-file work (``process_file``) is the same for every engine: hash the file, skip content already
analysed under another name, otherwise run the analyser, and return a plain JSON-able *record*.
Workers build their analyser once (``AnalyzerSpec.build``); the calling process is the single writer.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from audiotaste.analysis import REAL_WORLD_MODEL, REAL_WORLD_STUDENT, Analysis
from audiotaste.catalogue.store import FILE_TAGS, analysis_fields, path_key
from audiotaste.catalogue.walk import (
    FileChangedError,
    WalkFailure,
    WalkFile,
    os_error,
    track_id_of,
    walk,
)
from audiotaste.errors import AudiotasteError, InputError, ModelError

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
        Tagger name or folder for ``audiotaste.tagger.load_model``; ``None`` for the default model
        (and no tags, rather than an error, when no default model is installed).
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
            A named model that cannot be loaded.
        """
        if self.factory:
            module, _, attr = self.factory.partition(":")
            built: tuple[AnalyzeFn, str | None] = getattr(importlib.import_module(module), attr)(self)
            return built
        from audiotaste.analysis import load_extras

        tags, model_id, tagger = self.tags, None, None
        if tags:
            try:
                from audiotaste.tagger import load_model

                tagger = load_model(self.model or "default")  # loaded once per worker, here
                model_id = f"{tagger.name}@{tagger.version}"
            except (ModelError, ImportError):
                if self.model is not None:
                    raise
                tags = False  # no tagger installed yet: descriptors only
        extras = load_extras(tagger, self.extra_models)  # fails here, once, when one is missing
        extra_ids = {tax: f"{t.name}@{t.version}" for t in extras for tax in t.labels}
        return Analyzer(tags=tags, model=self.model, extra_models=tuple(self.extra_models),
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


def _model_name(model_id: str | None) -> str | None:
    return None if model_id is None else model_id.rpartition("@")[0] or model_id


def _serves_for(stored: str | None, wanted: str | None, *, exact: bool = False) -> bool:
    """Whether tags stored from model ``stored`` stand for those of ``wanted`` (``name@version`` or
    names): the same model (``exact``: the same version too, as ``--retag`` asks), or the teacher
    of the wanted student in any version (``--real-world`` without the fetch, ``--retag`` or not,
    never replaces musicnn's own tags with its student's)."""
    if _model_name(wanted) == REAL_WORLD_STUDENT and _model_name(stored) == REAL_WORLD_MODEL:
        return True
    return stored == wanted if exact else _model_name(stored) == _model_name(wanted)


def _stale_taxonomies(extra_ids: Mapping[str, str], stored: Mapping[str, str] | None, *,
                      exact: bool) -> list[str]:
    """Taxonomies the extra models produce that a stored track lacks, or has from another model
    (``exact``: another version of it too, as ``--retag`` asks). ``stored=None``: not known here."""
    if stored is None:
        return []
    return [tax for tax, mid in extra_ids.items()
            if not _serves_for(stored.get(tax), mid, exact=exact)]


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


class CatalogueBusyError(AudiotasteError):
    """Another ``audiotaste tag`` is writing to the same catalogue."""

    kind = "busy"


@contextmanager
def writer_lock(target: str, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold ``<target>.lock`` (an ``flock``, released by the kernel even on ``kill -9``).

    Raises
    ------
    CatalogueBusyError
        Still held by another process after ``wait_s`` seconds; the message names its pid.
    """
    lock_path = os.path.join(target, ".lock") if os.path.isdir(target) else f"{target}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(target, f"cannot create its lock file {lock_path} ({exc.strerror})") from None
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise CatalogueBusyError(
                        target, f"is being written by another audiotaste tag (pid {holder}); "
                                "wait for it to finish, or pass --wait SECONDS") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


class Sink(Protocol):
    """Where records go: the SQLite ``Catalogue`` or a Parquet dataset (``path``: file or folder)."""

    path: str

    def file_index(self) -> dict[bytes, tuple[int, int, str, str | None]]: ...

    def failure_index(self) -> dict[bytes, tuple[int | None, int | None]]: ...

    def write(self, records: Iterable[Mapping[str, Any]]) -> None: ...


@dataclass
class BatchSummary:
    """What one batch did. ``done`` were analysed now, ``tags_added`` were tracks already catalogued
    that got the extra models' taxonomies (the rest of their analysis kept), ``known`` were new paths
    of content already catalogued, ``skipped`` were unchanged (or failed before and unchanged), ``failed`` counts this
    run's failures by error kind, ``failures`` lists them as ``(path, kind, message)``."""

    found: int = 0
    done: int = 0
    tags_added: int = 0
    known: int = 0
    skipped: int = 0
    skipped_failed: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    walk_seconds: float = 0.0
    peak_worker_mb: float = 0.0
    interrupted: bool = False

    @property
    def n_failed(self) -> int:
        return sum(self.failed.values())

    def to_dict(self) -> dict[str, Any]:
        return {"found": self.found, "done": self.done, "tags_added": self.tags_added,
                "known": self.known,
                "skipped": self.skipped, "skipped_failed": self.skipped_failed,
                "failed": dict(self.failed), "seconds": self.seconds,
                "walk_seconds": self.walk_seconds, "peak_worker_mb": self.peak_worker_mb,
                "interrupted": self.interrupted}


def plan(inputs: Iterable[str], sink: Sink, *, force: bool = False, retag: bool = False,
         retry_failed: bool = False, summary: BatchSummary | None = None,
         extra_models: Iterable[str] = (),
         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Walk ``inputs`` and split them into tasks to run and failure records found by the walk.

    A file whose path, size and mtime match the catalogue is skipped (unless ``force``, or
    ``retag``, which sends it with its stored model so the worker re-tags only when the model
    differs, or its track lacks a taxonomy of ``extra_models``, which sends it so the worker adds
    it). A file that failed before and has not changed is skipped unless ``retry_failed``.
    """
    summary = summary if summary is not None else BatchSummary()
    index, failed_before = sink.file_index(), sink.failure_index()
    wanted = {_model_name(m) or m for m in extra_models}
    tag_models = (sink.tag_models_index() if wanted and hasattr(sink, "tag_models_index")
                  else None)
    merge = bool(getattr(sink, "merges_tags", False))
    tasks: list[dict[str, Any]] = []
    walk_failures: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in walk(inputs):
        if item.path in seen:  # the same file given twice, or reached through two arguments
            continue
        seen.add(item.path)
        summary.found += 1
        if isinstance(item, WalkFailure):
            walk_failures.append({"path": item.path, "size": None, "mtime_ns": None,
                                  "status": "failed", "kind": item.error.kind,
                                  "message": item.error.reason})
            continue
        assert isinstance(item, WalkFile)
        key = path_key(item.path)
        task: dict[str, Any] = {"path": item.path, "size": item.size, "mtime_ns": item.mtime_ns,
                                "force": force, "retag": retag}
        known = index.get(key)
        if known is not None and known[:2] == (item.size, item.mtime_ns) and not force:
            stored_tags = None if tag_models is None else tag_models.get(known[2], {})
            # by name here (a model given as a folder path is only recognised by the worker)
            complete = stored_tags is None or all(
                any(_serves_for(m, w) for m in stored_tags.values()) for w in wanted)
            if not retag and complete:
                summary.skipped += 1
                continue
            task.update(track_id=known[2], stored_model=known[3])
            if stored_tags is not None:
                task.update(stored_tag_models=stored_tags, merge=merge)
        elif (not retry_failed and not force
              and failed_before.get(key, (None, None)) == (item.size, item.mtime_ns)):
            summary.skipped_failed += 1
            continue
        tasks.append(task)
    return tasks, walk_failures


def run_batch(inputs: Iterable[str], sink: Sink, *, engine: str = "local", workers: int = 1,
              spec: AnalyzerSpec | None = None, force: bool = False, retag: bool = False,
              retry_failed: bool = False, address: str | None = None,
              lookup_db: str | None = None,
              on_planned: Callable[[int], None] | None = None,
              on_record: Callable[[dict[str, Any]], None] | None = None,
              flush_every_s: float = 0.5,
              file_timeout_s: float | None = None, wait_s: float = 0.0) -> BatchSummary:
    """Tag every file under ``inputs`` into ``sink``; see ``audiotaste tag``.

    Parameters
    ----------
    inputs
        Files and folders.
    sink
        A ``Catalogue`` (or a Parquet dataset sink).
    engine
        ``"local"`` (a process pool; ``workers=0`` runs in this process) or ``"ray"``.
    workers
        Worker processes / Ray actors.
    spec
        How each worker builds its analyser.
    force, retag, retry_failed
        Redo everything / re-tag unchanged files analysed with another model / retry unchanged
        files that failed before.
    address
        Ray cluster address (``None`` starts a local Ray).
    lookup_db
        SQLite catalogue the workers may read to recognise content already analysed at another path.
    on_planned, on_record
        Progress callbacks: the number of tasks, then each finished record.
    flush_every_s
        Results are committed in groups at most this old (seconds).
    file_timeout_s
        Local pool only: a file whose analysis takes longer is stopped and recorded as a
        ``timeout`` failure (``None``: no limit).
    wait_s
        Seconds to wait for another batch writing to the same sink before giving up.

    Returns
    -------
    BatchSummary
        Also when interrupted (``KeyboardInterrupt`` is caught, finished work is committed, and
        ``summary.interrupted`` is set).

    Raises
    ------
    CatalogueBusyError
        Another batch holds the sink's writer lock for longer than ``wait_s``.
    """
    with writer_lock(sink.path, wait_s=wait_s):
        return _run_batch(inputs, sink, engine=engine, workers=workers, spec=spec or AnalyzerSpec(),
                          force=force, retag=retag, retry_failed=retry_failed, address=address,
                          lookup_db=lookup_db, on_planned=on_planned, on_record=on_record,
                          flush_every_s=flush_every_s, file_timeout_s=file_timeout_s)


def _run_batch(inputs: Iterable[str], sink: Sink, *, engine: str, workers: int, spec: AnalyzerSpec,
               force: bool, retag: bool, retry_failed: bool, address: str | None,
               lookup_db: str | None, on_planned: Callable[[int], None] | None,
               on_record: Callable[[dict[str, Any]], None] | None, flush_every_s: float,
               file_timeout_s: float | None) -> BatchSummary:
    summary = BatchSummary()
    t0 = time.perf_counter()
    tasks, walk_failures = plan(inputs, sink, force=force, retag=retag, retry_failed=retry_failed,
                                summary=summary, extra_models=spec.extra_models)
    summary.walk_seconds = time.perf_counter() - t0
    for rec in walk_failures:
        _count(summary, rec)
    sink.write(walk_failures)
    if on_planned:
        on_planned(len(tasks))
    buffer: list[dict[str, Any]] = []
    last_flush = time.monotonic()
    records = _engine_records(engine, tasks, spec, workers, address, lookup_db, file_timeout_s)
    try:
        for rec in records:
            _count(summary, rec)
            buffer.append(rec)
            if time.monotonic() - last_flush >= flush_every_s or rec["status"] in ("ok", "tags"):
                sink.write(buffer)
                buffer, last_flush = [], time.monotonic()
            if on_record:
                on_record(rec)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()  # stop the workers now, not at garbage collection
        sink.write(buffer)
    summary.seconds = time.perf_counter() - t0
    return summary


def _count(summary: BatchSummary, rec: Mapping[str, Any]) -> None:
    status = rec["status"]
    if status == "ok":
        summary.done += 1
    elif status == "tags":
        summary.tags_added += 1
    elif status == "known":
        summary.known += 1
    elif status == "unchanged":
        summary.skipped += 1
    else:
        summary.failed[rec["kind"]] += 1
        summary.failures.append((rec["path"], rec["kind"], rec["message"]))
    summary.peak_worker_mb = max(summary.peak_worker_mb, float(rec.get("rss_mb") or 0.0))


def _engine_records(engine: str, tasks: list[dict[str, Any]], spec: AnalyzerSpec, workers: int,
                    address: str | None, lookup_db: str | None,
                    file_timeout_s: float | None) -> Iterator[dict[str, Any]]:
    from audiotaste.catalogue import engines

    if not tasks:
        return iter(())
    if engine == "local":
        if workers <= 0:
            return engines.run_inline(tasks, spec, lookup_db=lookup_db)
        return engines.run_local(tasks, spec, workers=workers, lookup_db=lookup_db,
                                 file_timeout_s=file_timeout_s)
    if engine == "ray":
        return engines.run_ray(tasks, spec, workers=max(1, workers), address=address)
    raise ValueError(f"unknown engine {engine!r} (local or ray)")
