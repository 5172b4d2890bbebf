"""Batch tagging: decide what to (re)do, run the per-file work on an engine, write every result.

:func:`plan` walks the inputs against what the sink holds; :func:`run_batch` holds the sink's writer
lock, hands the tasks to an engine (:mod:`.engines`: a local process pool or Ray) that runs
:func:`~audiotaste.catalogue.work.process_file`, and is the single writer of the records.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from audiotaste.catalogue import engines
from audiotaste.catalogue.store import path_key
from audiotaste.catalogue.walk import WalkFailure, WalkFile, walk
from audiotaste.catalogue.work import (
    AnalyzeFn,
    Analyzer,
    AnalyzerSpec,
    Lookup,
    TagLookup,
    file_tags,
    model_name,
    process_file,
    serves_for,
    set_single_thread,
)
from audiotaste.errors import AudiotasteError, InputError

__all__ = [
    "AnalyzeFn",
    "Analyzer",
    "AnalyzerSpec",
    "BatchSummary",
    "CatalogueBusyError",
    "Lookup",
    "Sink",
    "TagLookup",
    "file_tags",
    "plan",
    "process_file",
    "run_batch",
    "set_single_thread",
    "writer_lock",
]


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
    wanted = {model_name(m) or m for m in extra_models}
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
                any(serves_for(m, w) for m in stored_tags.values()) for w in wanted)
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
