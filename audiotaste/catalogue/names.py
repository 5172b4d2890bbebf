"""How a track is named to people: from its tags, else from its file name, else by its id.

One place for it, so that tables, playlists, the report and the recommender's reasons name a track the
same way.
"""

from __future__ import annotations

import math
import re

__all__ = ["name_from_path", "split_file_name", "track_label"]


def split_file_name(path: str) -> tuple[str, str]:
    """``(artist, title)`` read from a file name, ``("", title)`` when it names no artist.

    ``Artist - Title.flac`` and ``artist_name-title_words.ogg`` (one hyphen) give both; a leading
    track number (``03 - Title``) is dropped; anything else is all title: the file name without
    extension, underscores as spaces.

    Parameters
    ----------
    path : str
        File path, POSIX or Windows separators.
    """
    stem = re.split(r"[\\/]", path.strip())[-1]
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", stem)
    stem = " ".join(stem.replace("_", " ").split())
    parts = stem.split(" - ") if " - " in stem else stem.split("-")
    parts = [p.strip() for p in parts]
    if len(parts) == 2 and all(parts):
        artist, title = parts
        return ("" if artist.isdigit() else artist), title
    return "", stem


def name_from_path(path: str) -> str:
    """A track's name from its file name (:func:`split_file_name`), for tracks without title tags:
    ``“blue hour walk” by the velvet quartet``, ``“title”``, or ``an unnamed file``."""
    artist, title = split_file_name(path)
    if not title:
        return "an unnamed file"
    return f"“{title}” by {artist}" if artist else f"“{title}”"


def track_label(artist: object, title: object, path: object = None, track_id: object = None) -> str:
    """``Artist - Title`` from the tags (either alone when only one is known), else
    :func:`name_from_path`, else the track id. Missing values may be ``None``, ``""`` or NaN."""
    artist_text, title_text = _text(artist), _text(title)
    if artist_text and title_text:
        return f"{artist_text} - {title_text}"
    if artist_text or title_text:
        return title_text or artist_text
    path_text = _text(path)
    if path_text:
        return name_from_path(path_text)
    return _text(track_id) or "an unnamed track"


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return " ".join(str(value).split())  # a newline inside a tag would break a line-based format
