#!/usr/bin/env python
"""Genre labels of real recordings: a source's own genre names mapped onto our 13, and the listings
(``genre_<source>.csv``) the ``genre`` kind of ``sources.csv`` reads.

A listing has one row per audio file of a snapshot: ``path`` (in the repository), ``source_genre`` (the
source's own label, kept as given), ``genre`` (ours, empty where the source's label names none of ours
or names several), ``artist``, ``title``, ``licence`` (the track's own, where the source states one).
The builder (``listed.build_genre``) counts every listed file the snapshot lacks.

Regenerate a listing from a fetched snapshot, e.g. JamendoLyrics MultiLang::

    python scripts/real/genres.py jamendolyrics --git-dir /work/.mirror/f90+jamendolyrics \\
        --out scripts/real/genre_jamendolyrics.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "LISTING_COLUMNS",
    "OURS",
    "SOURCE_TO_OURS",
    "jamendolyrics_listing",
    "listing_text",
    "map_genre",
    "normal_label",
]

#: our genres (audiotaste.tagger.tag_head.GENRES; repeated here so the builder needs no numpy import,
#: and tested equal)
OURS = (
    "ambient", "blues", "classical", "country", "electronic", "folk", "hiphop", "jazz", "latin",
    "pop", "reggae", "rock", "soul",
)  # fmt: skip

#: a source's genre name (normalised by :func:`normal_label`) -> ours. Names that straddle two of ours
#: (disco, indie, "Pop/Rock") or none (experimental, international, instrumental, spoken, soundtrack)
#: are left out and map to "" — the source label is kept in the manifest either way. Metal and punk
#: are rock here: we have no metal class and our rendered rock includes HeavyMetal and punk grooves.
SOURCE_TO_OURS: dict[str, str] = {
    "ambient": "ambient",
    "new age": "ambient",
    "blues": "blues",
    "classical": "classical",
    "country": "country",
    "electronic": "electronic",
    "electronica": "electronic",
    "dance": "electronic",
    "techno": "electronic",
    "house": "electronic",
    "folk": "folk",
    "hip hop": "hiphop",
    "hiphop": "hiphop",
    "rap": "hiphop",
    "jazz": "jazz",
    "latin": "latin",
    "pop": "pop",
    "reggae": "reggae",
    "ska": "reggae",
    "rock": "rock",
    "metal": "rock",
    "heavy metal": "rock",
    "punk": "rock",
    "soul": "soul",
    "rnb": "soul",
    "r b": "soul",
    "r&b": "soul",
    "soul rnb": "soul",
    "funk": "soul",
    "gospel": "soul",
}

LISTING_COLUMNS = ["path", "source_genre", "genre", "artist", "title", "licence"]


def normal_label(label: str) -> str:
    """Case, accents and punctuation folded: ``"Hip-Hop"`` and ``"hip hop"`` are one label."""
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().casefold()
    text = text.replace("&", " & ")
    text = re.sub(r"[^a-z0-9&]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def map_genre(label: str) -> str:
    """Our genre for a source's genre label, or ``""`` when it names none (or several) of ours."""
    key = normal_label(label)
    return SOURCE_TO_OURS.get(key) or SOURCE_TO_OURS.get(key.replace(" ", ""), "")


def _licence(text: str) -> str:
    """``"BY-NC-ND"``, ``"CC  BY-NC-SA"`` -> ``"CC BY-NC-ND"``, ``"CC BY-NC-SA"``; ``""`` stays."""
    words = text.replace("CC", " ").split()
    return f"CC {' '.join(words)}" if words else ""


def jamendolyrics_listing(metadata_csv: str, *, audio_dir: str = "mp3") -> list[dict[str, str]]:
    """Listing rows for the JamendoLyrics MultiLang metadata (``JamendoLyrics.csv``: ``URL, Filepath,
    Artist, Title, Genre, LicenseType, Language, ...``); the audio is ``<audio_dir>/<Filepath>``."""
    rows: list[dict[str, str]] = []
    for item in csv.DictReader(io.StringIO(metadata_csv)):
        filepath = (item.get("Filepath") or "").strip()
        if not filepath:
            continue
        label = (item.get("Genre") or "").strip()
        rows.append(
            {
                "path": f"{audio_dir}/{filepath}",
                "source_genre": label,
                "genre": map_genre(label),
                "artist": (item.get("Artist") or "").strip(),
                "title": (item.get("Title") or "").strip(),
                "licence": _licence(item.get("LicenseType") or ""),
            }
        )
    return sorted(rows, key=lambda r: r["path"])


def listing_text(rows: Iterable[Mapping[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, LISTING_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from real.gitrepo import GitRepo, find_git_dir

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["jamendolyrics"], help="the source's metadata format")
    parser.add_argument("--git-dir", type=Path, required=True, help="the fetched snapshot")
    parser.add_argument("--out", type=Path, required=True, help="the listing to write")
    parser.add_argument("--metadata", default="JamendoLyrics.csv", help="its path in the snapshot")
    args = parser.parse_args(argv)
    git_dir = find_git_dir(args.git_dir)
    if git_dir is None:
        parser.error(f"no git directory in {args.git_dir}")
    repo = GitRepo(git_dir)
    entry = {e.path: e for e in repo.tree(repo.head())}.get(args.metadata)
    data = repo.blob(entry.sha) if entry is not None else None
    if data is None:
        parser.error(f"{args.metadata} is not in the snapshot")
    rows = jamendolyrics_listing(data.decode("utf-8-sig"))
    args.out.write_text(listing_text(rows), encoding="utf-8")
    print(f"{args.out}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
