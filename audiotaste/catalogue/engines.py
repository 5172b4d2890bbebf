"""Engines that run ``process_file`` over many files and stream the records back to one writer.

``run_local`` is a pool of worker processes (forkserver/spawn, never fork: torch may be loaded). Each
worker holds one task at a time, so when a worker dies (a decoder crash, the OOM killer) the file it
held is known, recorded as a ``crash`` failure, and a fresh worker takes over. ``run_ray`` runs the
same work as a Ray Data ``map_batches`` over an actor pool, so each actor builds its analyser once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import pickle
import queue
import signal
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any, cast

import numpy as np

from audiotaste.catalogue.work import (
    AnalyzerSpec,
    Lookup,
    TagLookup,
    process_file,
    set_single_thread,
)
from audiotaste.errors import AudiotasteError, InputError

_POLL_S = 0.5  # how often an idle loop checks that its peer is still alive


def _lookup_for(db: str | None) -> tuple[Lookup | None, TagLookup | None]:
    """What the catalogue at ``db`` holds for a content id: its model, and its taxonomies' models."""
    if db is None or not os.path.exists(db):
        return None, None
    from audiotaste.catalogue.store import Catalogue

    try:
        cat = Catalogue.open(db, readonly=True)
    except AudiotasteError:
        return None, None
    return cat.track_model, cat.track_tag_models


def run_inline(tasks: list[dict[str, Any]], spec: AnalyzerSpec, *,
               lookup_db: str | None = None) -> Iterator[dict[str, Any]]:
    """Run every task in this process (debugging, tiny batches)."""
    analyze_fn, model_id = spec.build()
    lookup, tag_lookup = _lookup_for(lookup_db)
    for task in tasks:
        yield process_file(analyze_fn, task, model_id=model_id, lookup=lookup,
                           tag_lookup=tag_lookup)


# --- local process pool --------------------------------------------------------------------------
def _worker(wid: int, spec: AnalyzerSpec, lookup_db: str | None, tasks: Any, results: Any,
            parent: int) -> None:
    # ``results`` is this worker's own pipe: a worker that dies mid-message (a segfault, the OOM
    # killer, a timeout kill) can only break its own pipe. A Queue shared by all workers would be
    # left with its write lock held, and every other worker would block on it forever.
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    set_single_thread()
    try:
        analyze_fn, model_id = spec.build()
    except AudiotasteError as exc:
        results.send(("init_error", wid, exc.kind, str(exc)))
        return
    except Exception as exc:
        results.send(("init_error", wid, "internal", f"{type(exc).__name__}: {exc}"))
        return
    lookup, tag_lookup = _lookup_for(lookup_db)
    results.send(("ready", wid, model_id))
    while True:
        try:
            task = tasks.get(timeout=_POLL_S)
        except queue.Empty:
            if os.getppid() != parent:  # the writer was killed: stop rather than linger
                return
            continue
        if task is None:
            return
        results.send(("done", wid, process_file(analyze_fn, task, model_id=model_id, lookup=lookup,
                                                tag_lookup=tag_lookup)))


def _mp_context() -> Any:
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def _death(code: int | None, who: str = "the worker analysing it") -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"{who} was killed by {name}{hint}"
    return f"{who} exited unexpectedly (exit code {code})"


def run_local(tasks: list[dict[str, Any]], spec: AnalyzerSpec, *, workers: int,
              lookup_db: str | None = None,
              file_timeout_s: float | None = None) -> Iterator[dict[str, Any]]:
    """Run ``tasks`` on ``workers`` processes; yield each record as it finishes.

    A file that takes longer than ``file_timeout_s`` (a decoder stuck on a crafted file) has its
    worker killed and replaced, and is recorded as a ``timeout`` failure.

    Raises
    ------
    AudiotasteError
        A worker could not build its analyser (e.g. a named model that does not load).
    """
    ctx = _mp_context()
    procs: dict[int, Any] = {}
    inboxes: dict[int, Any] = {}
    outboxes: dict[int, Any] = {}  # wid -> the read end of that worker's result pipe
    held: dict[int, dict[str, Any]] = {}
    since: dict[int, float] = {}
    ready: set[int] = set()
    stopping: set[int] = set()  # told there is no more work: their exit is not a crash
    todo = iter(tasks)
    remaining = len(tasks)

    def start(wid: int) -> None:
        inboxes[wid] = ctx.Queue()
        reader, writer = ctx.Pipe(duplex=False)
        outboxes[wid] = reader
        procs[wid] = ctx.Process(target=_worker, name=f"audiotaste-worker-{wid}", daemon=True,
                                 args=(wid, spec, lookup_db, inboxes[wid], writer, os.getpid()))
        procs[wid].start()
        writer.close()  # the child holds the only write end: its death shows as EOF here

    def receive() -> list[tuple[int, Any]]:
        """Messages from every worker with one waiting; ``None`` for a worker whose pipe broke."""
        by_conn: dict[Any, int] = {conn: wid for wid, conn in outboxes.items()}
        out: list[tuple[int, Any]] = []
        for conn in mp_connection.wait(list(by_conn), timeout=_POLL_S):
            wid = by_conn[conn]
            try:
                out.append((wid, cast(Any, conn).recv()))
            except (EOFError, OSError, pickle.UnpicklingError):
                out.append((wid, None))
        return out

    def retire(wid: int) -> None:
        procs.pop(wid).join(timeout=2.0)
        outboxes.pop(wid).close()
        inbox = inboxes.pop(wid)
        inbox.cancel_join_thread()
        inbox.close()

    def feed(wid: int) -> None:
        task = next(todo, None)
        if task is None:
            inboxes[wid].put(None)
            stopping.add(wid)
        else:
            held[wid], since[wid] = task, time.monotonic()
            inboxes[wid].put(task)

    for wid in range(min(workers, len(tasks))):
        start(wid)
    try:
        while remaining:
            messages = receive()
            broken = {wid for wid, msg in messages if msg is None}
            # Messages first: a worker's last "done" must count before its exit is looked at.
            for wid, msg in messages:
                if msg is None or wid not in procs:
                    continue
                if msg[0] == "init_error":
                    _, _, kind, text = msg
                    err = AudiotasteError(None, f"a worker could not start: {text}")
                    err.kind = kind
                    raise err
                ready.add(wid)
                if msg[0] == "done":
                    held.pop(wid, None)
                    remaining -= 1
                    yield msg[2]
                feed(wid)
            for wid in [w for w in stopping & set(procs) if w in broken or not procs[w].is_alive()]:
                retire(wid)
            for wid, proc in list(procs.items()):
                if wid in broken:
                    proc.join(timeout=1.0)  # a broken pipe is a worker exiting: let it finish dying
                alive = proc.is_alive() and wid not in broken
                if not alive and wid not in ready:
                    raise AudiotasteError(None, _death(proc.exitcode, "a worker, while starting,")) from None
                overdue = (alive and wid in held and file_timeout_s is not None
                           and time.monotonic() - since[wid] > file_timeout_s)
                if overdue or wid in broken:
                    proc.kill()
                    proc.join()
                if (not alive or overdue) and wid in held:
                    task = held.pop(wid)
                    remaining -= 1
                    kind, why = (("timeout", f"analysis took longer than {file_timeout_s:g} s; "
                                  "its worker was stopped") if overdue
                                 else ("crash", _death(proc.exitcode)))
                    yield {"path": task["path"], "size": task["size"],
                           "mtime_ns": task["mtime_ns"], "track_id": None, "status": "failed",
                           "kind": kind, "message": why}
                if (not alive or overdue) and remaining:
                    ready.discard(wid)
                    start(wid)
    finally:
        for wid, proc in procs.items():
            if proc.is_alive():
                with contextlib.suppress(Exception):
                    inboxes[wid].put_nowait(None)
        for proc in procs.values():
            proc.join(timeout=0.2 if held else 2.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2.0)
        for q in inboxes.values():
            q.cancel_join_thread()
            q.close()
        for conn in outboxes.values():
            conn.close()


# --- Ray Data ------------------------------------------------------------------------------------
class RayAnalyzer:
    """A Ray Data actor: builds the analyser once, then maps batches of tasks to records.

    Tasks and records travel as JSON strings: they hold non-UTF-8 paths (as surrogate escapes) and
    ragged values that Arrow columns would not carry.
    """

    def __init__(self, spec: AnalyzerSpec) -> None:
        set_single_thread()
        self.analyze_fn, self.model_id = spec.build()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = [json.dumps(process_file(self.analyze_fn, json.loads(t), model_id=self.model_id))
               for t in batch["task"]]
        return {"record": np.array(out, dtype=object)}


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a cluster address nobody answers at (``ray.init`` would retry for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():  # "auto" and other forms: leave them to Ray
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise InputError(address, f"no Ray cluster answers there ({exc.strerror or exc})") from None


def run_ray(tasks: list[dict[str, Any]], spec: AnalyzerSpec, *, workers: int,
            address: str | None = None) -> Iterator[dict[str, Any]]:
    """Run ``tasks`` with Ray Data on ``workers`` actors; yield each record as it finishes.

    Starts a local Ray (``workers`` CPUs, no dashboard) unless ``address`` names a cluster (whose
    nodes need audiotaste installed) or Ray is already initialised in this process.

    Raises
    ------
    InputError
        Ray is not installed (``pip install 'audiotaste[ray]'``) or the cluster cannot be reached.
    """
    # Recent Ray writes an auth token under $HOME unless told not to.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        import ray
        import ray.data
    except ImportError:
        raise InputError(None, "the ray engine needs Ray: pip install 'audiotaste[ray]'") from None
    started = False
    if not ray.is_initialized():
        # Local workers inherit the driver's environment; make an uninstalled checkout importable.
        paths = [_package_root(), *[p for p in sys.path if p and os.path.isdir(p)]]
        env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
        try:
            if address:
                _check_reachable(address)
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            else:
                ray.init(num_cpus=max(2, workers), include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR, runtime_env={"env_vars": env})
        except Exception as exc:  # ConnectionError, RuntimeError... differ across Ray versions
            raise InputError(address, f"cannot start or reach Ray ({exc})") from None
        started = True
    try:
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the CLI draws its own
        ctx.print_on_execution_start = False
        items = ray.data.from_items([{"task": json.dumps(t)} for t in tasks],
                                    override_num_blocks=min(len(tasks), 200))
        ds = items.map_batches(RayAnalyzer, fn_constructor_kwargs={"spec": spec}, batch_size=1,
                               compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
                               batch_format="numpy")
        try:
            for row in ds.iter_rows():
                yield json.loads(row["record"])
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except Exception as exc:  # an actor that kept dying, a lost node: Ray's own errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            err = AudiotasteError(address, f"the Ray job failed ({first}); finished files are "
                                           "saved, run the same command again to resume")
            err.kind = "engine"
            raise err from None
    finally:
        if started:
            ray.shutdown()
