"""Read a bare git snapshot (as the workplace's fetch tool leaves it) without a work tree.

Snapshots lack some blobs (files of 4 MiB and more, Git LFS content), so every read says whether
the blob is there; ``history`` finds files deleted from the newest commit in older commits.
"""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Entry", "GitRepo", "find_git_dir"]

NULL_SHA = "0" * 40


@dataclass(frozen=True)
class Entry:
    """One file of a commit: ``size`` is None when the snapshot lacks its blob (ls-tree says ``-`` or
    ``BAD``)."""

    path: str
    sha: str
    size: int | None
    commit: str


def find_git_dir(folder: Path) -> Path | None:
    """The git directory inside a fetched snapshot folder (``repo``, ``repo/.git``, or itself)."""
    for candidate in (folder / "repo" / ".git", folder / "repo", folder / ".git", folder):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    return None


def _unquote(path: str) -> str:
    """git's C-style quoting of odd paths (``"a\\tb"``) back to the path."""
    if len(path) >= 2 and path[0] == path[-1] == '"':
        return ast.literal_eval("b" + path).decode("utf-8", "surrogateescape")
    return path


class GitRepo:
    def __init__(self, git_dir: str | Path) -> None:
        self.git_dir = Path(git_dir)

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["git", "-c", "core.quotePath=false", "--git-dir", str(self.git_dir), *args],
            capture_output=True,
            check=check,
        )

    def head(self) -> str:
        return self._git("rev-parse", "HEAD").stdout.decode().strip()

    def has_commit(self, commit: str) -> bool:
        return self._git("cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode == 0

    def tree(self, commit: str = "HEAD") -> list[Entry]:
        """Every file of ``commit`` (recursively), with sizes; None for a blob the snapshot lacks."""
        sha_of_commit = self._git("rev-parse", commit).stdout.decode().strip()
        out = self._git("ls-tree", "-r", "-l", "-z", sha_of_commit).stdout.decode(
            "utf-8", "surrogateescape"
        )
        entries = []
        for record in out.split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            _mode, kind, sha, size = meta.split()
            if kind != "blob":
                continue
            entries.append(Entry(path, sha, int(size) if size.isdigit() else None, sha_of_commit))
        return entries

    def blob(self, sha: str) -> bytes | None:
        """The blob's bytes, or None when the snapshot does not hold it."""
        done = self._git("cat-file", "blob", sha, check=False)
        return done.stdout if done.returncode == 0 else None

    def history(self) -> dict[str, Entry]:
        """For every path any commit ever held, its newest version whose blob this snapshot has
        (deleted files included: the version just before the deletion)."""
        out = self._git(
            "log", "--all", "--raw", "--no-abbrev", "--no-renames", "--format=C %H"
        ).stdout
        have = self._present(out)
        found: dict[str, Entry] = {}
        commit = ""
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            if line.startswith("C "):
                commit = line[2:].strip()
                continue
            if not line.startswith(":") or "\t" not in line:
                continue
            meta, path = line.split("\t", 1)
            _old_mode, _new_mode, old_sha, new_sha, status = meta[1:].split()
            path = _unquote(path)
            if path in found:
                continue  # git log runs newest first: the first usable version is the newest
            # a deletion's old blob lives in the commit's parent; any other change's new blob here
            sha, where = (old_sha, f"{commit}^") if status.startswith("D") else (new_sha, commit)
            if sha != NULL_SHA and sha in have:
                found[path] = Entry(path, sha, have[sha], where)
        return found

    def _present(self, raw_log: bytes) -> dict[str, int]:
        """Sizes of the blobs named in a raw log that the snapshot holds."""
        shas = set()
        for line in raw_log.decode("utf-8", "surrogateescape").splitlines():
            if line.startswith(":"):
                fields = line.split("\t", 1)[0].split()
                shas.update(fields[2:4])
        shas.discard(NULL_SHA)
        if not shas:
            return {}
        done = subprocess.run(
            [
                "git",
                "--git-dir",
                str(self.git_dir),
                "cat-file",
                "--batch-check=%(objectname) %(objecttype) %(objectsize)",
            ],
            input="\n".join(sorted(shas)).encode(),
            capture_output=True,
            check=True,
        )
        sizes = {}
        for line in done.stdout.decode().splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[1] == "blob":
                sizes[fields[0]] = int(fields[2])
        return sizes
