"""The anchors of the real bench, where their Pythons live, and a resumable per-file cache of their answers.

Each anchor is one runner script (``scripts/anchors/run_*.py``) run with one Python: its own venv's (made by
``scripts/anchors/make_<venv>_venv.sh``) or, for audiotaste and its taggers, the Python running the bench.
Answers are cached one JSON line per file under ``<cache>/<anchor>/<version>.jsonl``; the version hashes the
anchor's installed packages (the venv's marker file), its runner scripts and, for audiotaste, the package
source and model files, so a changed anchor is rerun and an unchanged one never is.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENVS = Path(os.environ.get("AUDIOTASTE_VENVS", "/work/venvs"))
MARKER = ".anchor-installed"


@dataclass(frozen=True)
class Anchor:
    """One runner process: ``name`` caches, ``variants`` are the systems it reports (variant -> system)."""

    name: str
    script: str
    variants: dict[str, str]
    tasks: frozenset[str]  # subset of {"tempo", "key", "tags"}: which clips it is run on
    venv: str | None = None  # None: the bench's own Python with this worktree on the path
    args: tuple[str, ...] = ()
    needs: tuple[Path, ...] = field(default=())  # files that must exist (e.g. fetched weights)

    def python(self) -> Path:
        return Path(sys.executable) if self.venv is None else VENVS / self.venv / "bin" / "python"

    def missing(self) -> str | None:
        """Why the anchor cannot run here, or None."""
        if self.venv is not None and not (VENVS / self.venv / MARKER).is_file():
            return f"not installed (scripts/anchors/make_{self.venv}_venv.sh)"
        for need in self.needs:
            if not need.exists():
                return f"not installed (no {need.parent.name} weights: audiotaste models fetch musicnn)"
        return None

    def version(self) -> str:
        digest = hashlib.sha256()
        for path in (HERE / self.script, HERE / "_runner.py"):
            digest.update(path.read_bytes())
        digest.update(" ".join(self.args).encode())
        if self.venv is not None:
            digest.update((VENVS / self.venv / MARKER).read_bytes())
        else:
            for path in sorted((ROOT / "audiotaste").rglob("*.py")):
                digest.update(path.read_bytes())
            for path in sorted((ROOT / "models").rglob("*")) + list(self.needs):
                if path.is_file():
                    stat = path.stat()
                    digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:16]


def _cache_dir() -> Path:
    """audiotaste's model cache, where ``audiotaste models fetch musicnn`` puts the teachers."""
    from audiotaste._paths import cache_dir

    return cache_dir()


def anchors() -> list[Anchor]:
    """Every anchor of the bench, in table order."""
    cache = _cache_dir()
    return [
        Anchor("audiotaste", "run_audiotaste.py", {"analyze": "audiotaste"}, frozenset({"tempo", "key", "tags"})),
        Anchor("tempocnn", "run_tempocnn.py", {"fcn": "tempocnn fcn", "cnn": "tempocnn cnn"},
               frozenset({"tempo"}), venv="tempocnn"),
        Anchor("madmom", "run_madmom.py", {"tcn": "madmom TCN", "key-cnn": "madmom CNN key"},
               frozenset({"tempo", "key"}), venv="madmom"),
        Anchor("essentia", "run_essentia.py",
               {"rhythm2013": "Essentia RhythmExtractor2013", "percival": "Essentia Percival",
                "key-edma": "Essentia key edma", "key-bgate": "Essentia key bgate",
                "key-temperley": "Essentia key temperley"},
               frozenset({"tempo", "key"}), venv="essentia"),
        Anchor("librosa", "run_librosa.py", {"beat_track": "librosa beat_track", "ks-key": "librosa KS key"},
               frozenset({"tempo", "key"}), venv="librosa"),
        Anchor("musicnn-msd", "run_audiotaste.py", {"tags": "musicnn-msd (mapped)"}, frozenset({"tags"}),
               args=("--model", "musicnn-msd"), needs=(cache / "musicnn-msd" / "model.safetensors",)),
        Anchor("musicnn-mtt", "run_audiotaste.py", {"tags": "musicnn-mtt (mapped)"}, frozenset({"tags"}),
               args=("--model", "musicnn-mtt"), needs=(cache / "musicnn-mtt" / "model.safetensors",)),
        Anchor("student", "run_audiotaste.py", {"tags": "student musicnn-msd-student (mapped)"},
               frozenset({"tags"}), args=("--model", str(ROOT / "models" / "musicnn-msd-student"))),
    ]


def read_cache(path: Path) -> dict[str, dict[str, Any]]:
    """path -> answer from a cache file; a torn last line (a killed run) is ignored."""
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        out[row["path"]] = row
    return out


def cache_file(anchor: Anchor, cache_root: Path) -> Path:
    return cache_root / anchor.name / f"{anchor.version()}.jsonl"


def run_anchor(anchor: Anchor, paths: Iterable[str], cache_root: Path, *, log=print) -> dict[str, dict[str, Any]]:
    """Answers of ``anchor`` for ``paths`` (absolute), running it only on the files not yet cached."""
    cache_file = globals()["cache_file"](anchor, cache_root)
    answers = read_cache(cache_file)
    todo = [p for p in dict.fromkeys(paths) if p not in answers]
    if not todo:
        return answers
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    log(f"[{anchor.name}] {len(todo)} files to run ({len(answers)} cached) -> {cache_file}")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    with tempfile.TemporaryFile("w+") as listing, open(cache_file, "a+") as cache, \
            open(cache_root / anchor.name / "stderr.log", "a") as stderr:
        listing.write("".join(p + "\n" for p in todo))
        listing.seek(0)
        cache.seek(0, os.SEEK_END)
        if cache.tell() > 0:  # a torn line from a killed run must not swallow the next answer
            cache.seek(cache.tell() - 1)
            if cache.read(1) != "\n":
                cache.write("\n")
        command = [str(anchor.python()), str(HERE / anchor.script), *anchor.args]
        with subprocess.Popen(command, stdin=listing, stdout=subprocess.PIPE, stderr=stderr, text=True,
                              env=env, cwd=HERE) as proc:
            assert proc.stdout is not None
            for done, line in enumerate(proc.stdout, 1):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                cache.write(json.dumps(row) + "\n")
                cache.flush()
                answers[row["path"]] = row
                if done % 25 == 0:
                    log(f"[{anchor.name}] {done}/{len(todo)}")
        if proc.returncode != 0:
            log(f"[{anchor.name}] runner exited with {proc.returncode}; see {stderr.name}")
    return answers
