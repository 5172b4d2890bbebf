"""The ``deb`` kind of source: the music files of a free-music Debian package, unlabelled.

The ``.deb`` (``apt-get download PACKAGE``) is unpacked once per version (a marker names the file
it came from); zip/pk3 archives inside it are opened for their audio members; every file is
checked (empty, tracker module, duplicate, undecodable, too short) and every skip counted.
"""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from audiotaste._io import atomic_write_bytes
from real.audiocheck import AUDIO_SUFFIXES, TRACKER_SUFFIXES, AudioProblem, probe
from real.manifest import SkipCounter
from real.sources import Source, safe_relpath

__all__ = ["MIN_UNLABELLED_S", "build_deb"]

#: Unlabelled files shorter than this are jingles or effects, not music to learn from.
MIN_UNLABELLED_S = 30.0


def _deb_members(deb: Path, pattern: str, dest: Path) -> None:
    """Extract the members of a .deb's data archive matching ``pattern`` (a glob on paths without
    the leading ``./``) into ``dest``, through a temporary folder renamed into place at the end."""
    tmp = Path(tempfile.mkdtemp(prefix=".part-", dir=dest.parent))
    try:
        feed = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        assert feed.stdout is not None
        with tarfile.open(fileobj=feed.stdout, mode="r|") as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if member.isfile() and any(fnmatch.fnmatch(name, p) for p in pattern.split("|")):
                    archive.extract(member, tmp, filter="data")
        if feed.wait() != 0:
            raise RuntimeError(f"dpkg-deb could not read {deb}")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _unzip_audio(folder: Path, pattern: str) -> None:
    """Unpack audio members matching ``pattern`` from the zip/pk3 archives extracted into ``folder``."""
    for archive_path in sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in (".zip", ".pk3")
    ):
        with zipfile.ZipFile(archive_path) as archive:
            for info in archive.infolist():
                if info.is_dir() or not fnmatch.fnmatch(info.filename, pattern):
                    continue
                target = archive_path.with_suffix("") / safe_relpath(info.filename)
                if target.is_file() and target.stat().st_size == info.file_size:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, archive.read(info))
        archive_path.unlink()  # the archive's other members are no audio; keep only what we use


def _deb_audio(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path


def build_deb(source: Source, debs: Path, out: Path, skips: SkipCounter) -> list[dict[str, object]]:
    """Unlabelled rows for a Debian package's music (``include`` globs, ``|``-separated)."""
    candidates = sorted(debs.glob(f"{source.origin}_*.deb"))
    if not candidates:
        skips.add(source.source, "package_not_downloaded", source.origin)
        return []
    if source.version:
        wanted = [d for d in candidates if f"_{source.version.replace(':', '%3a')}_" in d.name]
        if not wanted:  # another version: used, and said (source_commit names the one used)
            skips.add(source.source, "recipe_version_absent_used_other", source.version)
        candidates = wanted or candidates
    deb = candidates[-1]
    folder = out / "audio" / source.source
    marker = folder / ".extracted-from"
    if not (marker.is_file() and marker.read_text().strip() == deb.name):
        folder.parent.mkdir(parents=True, exist_ok=True)
        _deb_members(deb, f"{source.include}|usr/share/doc/{source.origin}/copyright", folder)
        if source.inner:
            _unzip_audio(folder, source.inner)
        atomic_write_bytes(marker, deb.name.encode())
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for path in _deb_audio(folder):
        rel = path.relative_to(out).as_posix()
        suffix = path.suffix.lower()
        if path.name in (".extracted-from", "copyright"):
            continue
        if suffix in TRACKER_SUFFIXES:
            skips.add(source.source, "tracker_module_synthetic", rel)
            continue
        if suffix not in AUDIO_SUFFIXES:
            continue
        if path.stat().st_size == 0:
            skips.add(source.source, "blob_empty", rel)
            continue
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        if digest in seen:
            skips.add(source.source, "duplicate_file", rel)
            continue
        seen.add(digest)
        try:
            info = probe(path)
        except AudioProblem as error:
            skips.add(source.source, error.reason, rel)
            continue
        if info.duration_s < MIN_UNLABELLED_S:
            skips.add(source.source, "unlabelled_shorter_than_30s", rel)
            continue
        rows.append(
            {
                "clip_id": f"{source.source}/{digest[:12]}",
                "path": rel,
                "source": source.source,
                "source_commit": f"{source.origin}={deb.name.split('_')[1].replace('%3a', ':')}",
                "licence": source.licence,
                "duration_s": f"{info.duration_s:.3f}",
                "artist": info.artist,
                "title": info.title or path.stem,
                "_fallback": f"{source.source}:{path.stem}",
            }
        )
    return rows
