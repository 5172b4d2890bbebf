"""Artist-disjoint splits: a clip's split is a pure function of who made it, never of the clip.

Artists are compared after normalisation (case, punctuation, ``feat.``) and split on collaboration
separators (``A & B``, ``A feat. B``, ``A x B``, ``A, B``, ``A vs B``); clips that share any artist are
one group (union-find), and a group's split is a salted hash of its first name in sorted order. So
no artist is ever on two sides, the answer does not depend on clip order, and adding unrelated
clips never moves a clip.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["SALT", "artist_names", "assign_splits", "extend_splits", "hash_split", "normal_name"]

SALT = "audiotaste-real-v1"
_SEPARATORS = re.compile(
    r"\s*(?:&|\+|,|;|/|\bfeat\.?|\bft\.?|\bfeaturing\b|\bvs\.?|\bx\b|\band\b|\bwith\b)\s*",
    re.IGNORECASE,
)


def normal_name(name: str) -> str:
    """A name or title as the splits compare it: NFKC, case-folded, punctuation to spaces."""
    name = unicodedata.normalize("NFKC", name).casefold()
    name = re.sub(r"[\[\](){}\"'`.!?~*_-]+", " ", name)
    return re.sub(r"\s+", " ", name).strip()


def artist_names(artist: str) -> frozenset[str]:
    """The normalised individual names in an artist credit (empty for an empty credit)."""
    parts = _SEPARATORS.split(unicodedata.normalize("NFKC", artist))
    return frozenset(name for name in (normal_name(part) for part in parts) if name)


def hash_split(key: str, names: Sequence[str], *, salt: str = SALT) -> str:
    """One of ``names``, chosen uniformly by a salted SHA-256 of ``key`` (stable across runs)."""
    digest = hashlib.sha256(f"{salt}\0{key}".encode()).digest()
    return names[int.from_bytes(digest[:8], "big") % len(names)]


def assign_splits(
    clips: Iterable[tuple[str, str, str]],
    names: Sequence[str] = ("dev", "test"),
    *,
    salt: str = SALT,
    forced: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Split per clip id for ``(clip_id, artist, fallback)`` triples; ``fallback`` (e.g. the song's
    folder) stands in for an empty artist credit. A group holding a clip of ``forced`` (clip id ->
    split) takes that split whole, so an artist of an all-dev source never lands in test."""
    groups = _Groups()
    find = groups.find
    members: dict[str, list[str]] = {}
    for clip_id, artist, fallback in clips:
        members[clip_id] = keys = _keys(clip_id, artist, fallback)
        groups.join(keys)
    pinned = {
        find(members[c][0]): split for c, split in sorted((forced or {}).items()) if c in members
    }
    return {
        clip_id: pinned.get(find(keys[0])) or hash_split(find(keys[0]), names, salt=salt)
        for clip_id, keys in members.items()
    }


def _keys(clip_id: str, artist: str, fallback: str) -> list[str]:
    """A clip's artist names, or its folder standing in for an empty credit."""
    return sorted(artist_names(artist)) or [f"folder:{normal_name(fallback) or clip_id}"]


class _Groups:
    """Union-find over names: the names one clip credits end up in one group, whose root is the
    smallest name (so the grouping does not depend on the order clips come in)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def join(self, keys: Sequence[str]) -> None:
        for key in keys[1:]:
            a, b = self.find(keys[0]), self.find(key)
            if a != b:
                self.parent[max(a, b)] = min(a, b)
        self.find(keys[0])


def extend_splits(
    settled: Iterable[tuple[str, str, str, str]],
    new: Iterable[tuple[str, str, str]],
    names: Sequence[str] = ("dev", "test"),
    *,
    salt: str = SALT,
) -> dict[str, str]:
    """Splits for ``new`` ``(clip_id, artist, fallback)`` clips beside ``settled`` ``(clip_id, artist,
    fallback, split)`` clips whose splits are fixed and must not move. New clips that share a name form
    groups (as in :func:`assign_splits`); a group holding a name of the settled clips takes that name's
    side, a group of new names only is hashed as :func:`assign_splits` hashes it. A new clip crediting
    settled names of both sides (a collaboration of a dev and a test artist), and the new clips of a
    group that reaches both sides, get ``""``: no side keeps every artist on one."""
    fixed: dict[str, set[str]] = {}
    for clip_id, artist, fallback, split in settled:
        for key in _keys(clip_id, artist, fallback):
            fixed.setdefault(key, set()).add(split)
    groups = _Groups()
    find = groups.find
    out: dict[str, str] = {}
    fresh: dict[str, list[str]] = {}
    for clip_id, artist, fallback in new:
        keys = _keys(clip_id, artist, fallback)
        if len(set().union(*(fixed.get(k, set()) for k in keys))) > 1:
            out[clip_id] = ""
            continue
        fresh[clip_id] = keys
        groups.join(keys)
    held: dict[str, set[str]] = {}
    for key in list(groups.parent):
        held.setdefault(find(key), set()).update(fixed.get(key, set()))
    for clip_id, keys in fresh.items():
        root = find(keys[0])
        sides = held[root]
        out[clip_id] = (
            next(iter(sides)) if len(sides) == 1 else "" if sides else hash_split(root, names, salt=salt)
        )
    return out
