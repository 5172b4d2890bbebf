"""The ``keyed`` and ``genre`` kinds of source: the files of a snapshot that a committed listing
names, with their key (split pinned: ``dev`` where the listing says so, else ``test``) or their
genre (the source's own label and ours; split dev/test by artist).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from real.manifest import SkipCounter
from real.sources import Source, clip_id, extract_decodable, safe_relpath, snapshot

__all__ = ["KEYED_SPLITS", "KEY_MODES", "KEY_TONICS", "build_genre", "build_keyed", "key_label_problem"]


#: Tonic names of the ``keyed`` labels (sharps only, as the manifest writes them) and their modes.
KEY_TONICS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
KEY_MODES = ("major", "minor")
#: Splits a keyed listing row may name (its optional ``split`` column); a row that names none is
#: ``test``, as every keyed recording was before the dev set (DATA.md, "A real key dev set").
KEYED_SPLITS = ("dev", "test")


def key_label_problem(key: str, mode: str) -> str | None:
    """Why a listing's ``key``/``mode`` is not a label the manifest can carry, or None: the tonic
    must be one of ``KEY_TONICS`` (sharps: E-flat is ``D#``) and the mode ``major`` or ``minor``."""
    if key not in KEY_TONICS:
        return f"tonic {key!r} is not one of {', '.join(KEY_TONICS)}"
    if mode not in KEY_MODES:
        return f"mode {mode!r} is not major or minor"
    return None


def build_keyed(
    source: Source, git_dir: Path, out: Path, listing: Path, skips: SkipCounter
) -> list[dict[str, object]]:
    """Rows for recordings whose key is known (``listing``: ``path,key,mode,artist,title``, one row
    per file of the snapshot, and optionally ``licence`` and ``split``; the label's origin is
    documented in DATA.md). A row whose label is not a tonic of ``KEY_TONICS`` with ``major``/
    ``minor`` is skipped (``key_label_invalid``). The split is pinned, never drawn by artist: the
    row's ``split`` (``dev`` for recordings that model choices may be made on), ``test`` when the
    listing names none (evaluation only); any other value is skipped (``keyed_split_invalid``)."""
    def label(item: dict[str, str]) -> dict[str, object] | str | None:
        if key_label_problem(item["key"], item["mode"]) is not None:
            return None
        split = (item.get("split") or "").strip() or "test"
        if split not in KEYED_SPLITS:
            return "keyed_split_invalid"
        return {"key": item["key"], "mode": item["mode"], "_split": split}

    return _build_listed(source, git_dir, out, listing, skips, label, invalid="key_label_invalid")


def build_genre(
    source: Source, git_dir: Path, out: Path, listing: Path, skips: SkipCounter
) -> list[dict[str, object]]:
    """Rows for recordings with a genre label (``listing``: ``real/genres.py``'s columns ``path,
    source_genre, genre, artist, title, licence``). ``genres`` keeps the source's own label, ``genre``
    is ours (empty where the label names none of ours). Their split (dev/test by artist) is set by the
    build beside the splits already made (``splits.extend_splits``)."""
    def label(item: dict[str, str]) -> dict[str, object]:
        return {"genres": item["source_genre"], "genre": item["genre"], "_by_artist": True}

    return _build_listed(source, git_dir, out, listing, skips, label, invalid="")


def _build_listed(
    source: Source, git_dir: Path, out: Path, listing: Path, skips: SkipCounter,
    label: Callable[[dict[str, str]], dict[str, object] | str | None], *, invalid: str,
) -> list[dict[str, object]]:
    """Rows for the snapshot files a committed listing names, with the columns ``label`` gives each
    listing row (``None``: skipped as ``invalid``; a string: skipped for that reason). A file's own
    licence (the listing's optional ``licence`` column) is written before the source's, for sources
    licensed file by file."""
    repo, commit, head = snapshot(source, git_dir)
    rows: list[dict[str, object]] = []
    with open(listing, newline="", encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    for item in listed:
        columns = label(item)
        if columns is None or isinstance(columns, str):
            skips.add(source.source, columns or invalid, item["path"])
            continue
        entry = head.get(item["path"])
        if entry is None:
            skips.add(source.source, "audio_not_in_snapshot", item["path"])
            continue
        rel = Path("audio") / source.source / safe_relpath(item["path"])
        info = extract_decodable(repo, entry, out / rel, source, skips)
        if info is None:
            continue
        own = (item.get("licence") or "").strip()
        rows.append({
            "clip_id": clip_id(source.source, item["path"]), "path": rel.as_posix(), "source": source.source,
            "source_commit": commit, "licence": f"{own}; {source.licence}" if own else source.licence,
            "duration_s": f"{info.duration_s:.3f}", "artist": item["artist"], "title": item["title"],
            "_fallback": item["path"], **columns,
        })  # fmt: skip
    return rows
