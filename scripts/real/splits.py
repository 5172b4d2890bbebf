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

__all__ = ["SALT", "artist_names", "assign_splits", "hash_split"]

SALT = "audiotaste-real-v1"
_SEPARATORS = re.compile(
    r"\s*(?:&|\+|,|;|/|\bfeat\.?|\bft\.?|\bfeaturing\b|\bvs\.?|\bx\b|\band\b|\bwith\b)\s*",
    re.IGNORECASE,
)


def _normal(name: str) -> str:
    name = unicodedata.normalize("NFKC", name).casefold()
    name = re.sub(r"[\[\](){}\"'`.!?~*_-]+", " ", name)
    return re.sub(r"\s+", " ", name).strip()


def artist_names(artist: str) -> frozenset[str]:
    """The normalised individual names in an artist credit (empty for an empty credit)."""
    parts = _SEPARATORS.split(unicodedata.normalize("NFKC", artist))
    return frozenset(name for name in (_normal(part) for part in parts) if name)


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
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    members: dict[str, list[str]] = {}
    for clip_id, artist, fallback in clips:
        keys = sorted(artist_names(artist)) or [f"folder:{_normal(fallback) or clip_id}"]
        members[clip_id] = keys
        for key in keys[1:]:
            a, b = find(keys[0]), find(key)
            if a != b:
                parent[max(a, b)] = min(a, b)
        find(keys[0])
    pinned = {
        find(members[c][0]): split for c, split in sorted((forced or {}).items()) if c in members
    }
    return {
        clip_id: pinned.get(find(keys[0])) or hash_split(find(keys[0]), names, salt=salt)
        for clip_id, keys in members.items()
    }
