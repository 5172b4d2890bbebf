"""Words for recommendations: track names, tag phrases and the reasons given beside each track.

Pure functions of the recommender's fitted arrays, so the recommender, the discovery playlist and
the CLI word things the same way.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: A tag must reach this probability to be named in a phrase.
PHRASE_MIN_PROB = 0.3
#: Content cosine at which a track "sounds like" one the listener likes.
SOUNDS_LIKE_COSINE = 0.5


class FittedArrays(Protocol):
    """What a fitted :class:`~audiotaste.recommend.Recommender` exposes to the explanations."""

    track_ids_: np.ndarray
    artist_: np.ndarray
    title_: np.ndarray
    path_: np.ndarray
    artist_code_: np.ndarray
    tag_names_: np.ndarray
    tags_: np.ndarray
    tag_mean_: np.ndarray
    X_: np.ndarray
    evidence_: sp.csr_matrix
    listens_: np.ndarray
    item_cf_: np.ndarray
    item_factors_: np.ndarray
    user_factors_: np.ndarray
    blend_listens: float
    content_weight: float


def file_artist_title(path: str) -> tuple[str, str]:
    """``(artist, title)`` read from a file name; ``artist`` is empty when the name has none.

    ``Artist - Title.flac`` and ``artist_name-title_words.ogg`` (one hyphen) split in two; a
    leading track number (``03 - Title``) is dropped; anything else is all title (the file name
    without extension, underscores as spaces).
    """
    stem = re.split(r"[\\/]", path.strip())[-1]
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", stem)
    stem = " ".join(stem.replace("_", " ").split())
    parts = stem.split(" - ") if " - " in stem else stem.split("-")
    parts = [p.strip() for p in parts]
    if len(parts) == 2 and all(parts):
        artist, title = parts
        return ("", title) if artist.isdigit() else (artist, title)
    return "", stem


def readable_name(path: str) -> str:
    """A track's name from its file name, for tracks without title tags.

    Parameters
    ----------
    path
        File path, POSIX or Windows separators.

    Returns
    -------
    str
        The name in curly quotes, e.g. ``“blue hour walk” by the velvet quartet`` (see
        :func:`file_artist_title` for how the name is split).
    """
    artist, title = file_artist_title(path)
    if not title:
        return "an unnamed file"
    return f"“{title}” by {artist}" if artist else f"“{title}”"


def track_name(title: str, artist: str, path: str, track_id: str) -> str:
    """``“Title” by Artist`` from the tags, else from the file name, else ``track <id>``.

    Untagged files (e.g. OGGs without comments) still have a file name, which people chose to be
    readable; a content hash is not.
    """
    if title and artist:
        return f"“{title}” by {artist}"
    if title:
        return f"“{title}”"
    return readable_name(path) if path else f"track {track_id}"


def and_join(words: list[str]) -> str:
    """``"a, b and c"``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def tag_phrases(
    tags: np.ndarray, tag_names: np.ndarray, idx: np.ndarray, taste: np.ndarray | None
) -> list[str]:
    """``"calm jazz"`` per track ``idx``: its strongest mood and genre (and other tag), kept only
    where the listener's ``taste`` (tag mix minus the catalogue's mean) favours them, or always
    when ``taste`` is ``None``."""
    words: list[list[str]] = [[] for _ in idx]
    for kind in ("mood.", "genre.", "tag."):
        cols = np.flatnonzero(np.char.startswith(tag_names.astype(str), kind))
        if not len(cols):
            continue
        best = cols[tags[np.ix_(idx, cols)].argmax(1)]
        keep = tags[idx, best] >= PHRASE_MIN_PROB
        if taste is not None:
            keep &= taste[best] > 0
        for r in np.flatnonzero(keep):
            words[r].append(str(tag_names[best[r]])[len(kind) :])
    return [" ".join(w) for w in words]


def mood_genre_phrases(
    mtags: np.ndarray, moods: list[str], gtags: np.ndarray, genres: list[str]
) -> np.ndarray:
    """``"calm jazz"`` for every track: its strongest mood and genre where they are clear."""
    words = np.full(len(mtags) if len(mtags) else len(gtags), "", dtype=object)
    for tags, names in ((mtags, moods), (gtags, genres)):
        if not tags.shape[1]:
            continue
        top = tags.argmax(1)
        strong = tags[np.arange(len(tags)), top] >= PHRASE_MIN_PROB
        w = np.where(strong, np.asarray(names, dtype=object)[top], "")
        words = np.where((words != "") & (w != ""), words + " " + w, words + w)
    return words


def name_of(rec: FittedArrays, j: int) -> str:
    """:func:`track_name` of the recommender's track ``j``."""
    return track_name(
        str(rec.title_[j]), str(rec.artist_[j]), str(rec.path_[j]), str(rec.track_ids_[j])
    )


def recommendation_reasons(
    rec: FittedArrays,
    u: int,
    idx: np.ndarray,
    score: np.ndarray,
    collab: np.ndarray,
    content: np.ndarray,
) -> list[str]:
    """Reasons from the actual score parts, one per track ``idx`` of listener ``u``.

    Tags the listener favours, nearest liked tracks, zero listens, artists they play, and whether
    listeners like them carried the score. A track whose score or sound match is not positive
    (a list longer than the good matches) is never said to be something the listener favours;
    a negative score is called a weak match.
    """
    lo, hi = rec.evidence_.indptr[u], rec.evidence_.indptr[u + 1]
    cols, data = rec.evidence_.indices[lo:hi], rec.evidence_.data[lo:hi]
    liked, weights = cols[data > 0], data[data > 0]
    taste_tags = None
    if len(liked) and len(rec.tag_names_):
        taste_tags = (weights @ rec.tags_[liked]) / weights.sum() - rec.tag_mean_
    # Without a liked play there is no taste to favour anything (a listener who only skipped).
    heads = (
        tag_phrases(rec.tags_, rec.tag_names_, idx, taste_tags) if len(liked) else [""] * len(idx)
    )
    codes, counts = np.unique(rec.artist_code_[liked], return_counts=True)
    liked_artists = {int(c): int(k) for c, k in zip(codes, counts, strict=True) if c >= 0}
    sims = rec.X_[liked] @ rec.X_[idx].T  # [n_liked, n_idx]
    nearest = sims.argmax(0) if len(liked) else np.zeros(len(idx), np.int64)
    n = rec.listens_[idx]
    # Only when the track's own listening data (not its content or artist prior) carries most of
    # the score.
    own = n / (n + rec.blend_listens) * (rec.item_cf_[idx] @ rec.user_factors_[u])
    out = []
    for r, j in enumerate(idx):
        parts = []
        if n[r] == 0:
            parts.append("new: nobody has played it yet")
        if heads[r] and score[r] > 0 and content[r] > 0:
            parts.append(f"{heads[r]}, which you favour")
        k = liked_artists.get(int(rec.artist_code_[j]), 0)
        if k:
            name = rec.artist_[j] or "an artist"
            parts.append(f"by {name}, whom you play ({k} track{'s' * (k > 1)} you like)")
        if len(liked) and sims[nearest[r], r] >= SOUNDS_LIKE_COSINE and liked[nearest[r]] != j:
            parts.append(f"sounds like {name_of(rec, int(liked[nearest[r]]))}, which you like")
        if own[r] > 0 and own[r] >= 0.5 * collab[r] and own[r] >= rec.content_weight * content[r]:
            parts.append(f"liked by listeners who share your taste ({n[r]} listeners)")
        if score[r] < 0:
            parts.append("a weak match: little in your listening points to it")
        text = "; ".join(parts) or "the closest remaining match to your listening"
        out.append(text[0].upper() + text[1:])
    return out


def similar_tracks(rec: FittedArrays, i: int, n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The ``n`` tracks closest to track ``i`` by the mean of their factor and content cosines,
    best first, with scores and reasons (same artist, alike in sound naming shared tags, played
    by the same listeners)."""
    f = rec.item_factors_ / np.maximum(
        np.linalg.norm(rec.item_factors_, axis=1, keepdims=True), 1e-9
    )
    by_listens = f @ f[i]
    by_sound = rec.X_ @ rec.X_[i]
    sc = 0.5 * (by_listens + by_sound)
    sc[i] = -np.inf
    k = min(n, len(sc) - 1)
    top = np.argpartition(-sc, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
    top = top[np.argsort(-sc[top], kind="stable")]
    phrases = tag_phrases(rec.tags_, rec.tag_names_, np.concatenate([[i], top]), None)
    reasons = []
    for j, phrase in zip(top, phrases[1:], strict=True):
        why = []
        if rec.artist_code_[j] >= 0 and rec.artist_code_[j] == rec.artist_code_[i]:
            why.append("same artist")
        if by_sound[j] >= SOUNDS_LIKE_COSINE:
            shared = [w for w in phrase.split() if w in phrases[0].split()]
            why.append("sounds alike" + (f": both {' '.join(shared)}" if shared else ""))
        if rec.listens_[i] and rec.listens_[j] and by_listens[j] >= 0.5:
            why.append("played by the same listeners")
        if not why:
            why.append("the closest match available in sound and listeners")
        reasons.append("; ".join(why))
    return top, sc[top], reasons


def shelf_reasons(
    rec: FittedArrays,
    idx: np.ndarray,
    labels: list[str],
    liked: np.ndarray | None,
    phrase: np.ndarray,
) -> list[str]:
    """Discovery reasons: the shelf's label, then the track's mood and genre ``phrase`` and what in
    the listener's history it relates to (``liked`` tracks; ``None``: no history)."""
    no_history = liked is None
    liked = np.zeros(0, np.int64) if liked is None else liked
    near = np.full(len(idx), -1)
    if len(liked) and len(idx):
        sims = rec.X_[idx] @ rec.X_[liked].T
        best = sims.argmax(1)
        near = np.where(sims[np.arange(len(idx)), best] >= SOUNDS_LIKE_COSINE, liked[best], -1)
    liked_artists = set(rec.artist_code_[liked].tolist()) - {-1}
    out = []
    for k, j in enumerate(idx):
        parts = [phrase[j]] if phrase[j] else []
        if near[k] >= 0 and near[k] != j:
            parts.append(f"sounds like {name_of(rec, int(near[k]))}, which you like")
        if rec.artist_code_[j] in liked_artists:
            parts.append(f"by {rec.artist_[j] or 'an artist'}, whom you play")
        if rec.listens_[j] == 0:
            parts.append("new: nobody has played it yet")
        elif no_history:
            parts.append(f"{rec.listens_[j]} listeners here; a default: no listening history yet")
        out.append(f"{labels[k]}: " + "; ".join(parts) if parts else labels[k])
    return out


def recommendation_frame(
    rec: Any, u: int | None, idx: np.ndarray, sc: np.ndarray, reasons: list[str] | None = None
) -> pd.DataFrame:
    """``recommend``'s output for listener ``u`` (``None``: no history; ``reasons`` given)."""
    if u is None:
        collab = np.zeros(len(idx), np.float32)
        content = np.zeros(len(idx), np.float32)
    else:
        collab = rec.item_factors_[idx] @ rec.user_factors_[u]
        content = rec.X_[idx] @ rec.taste_[u]
    if reasons is None:
        assert u is not None
        reasons = recommendation_reasons(rec, u, idx, np.asarray(sc), collab, content)
    return pd.DataFrame(
        {
            "track_id": rec.track_ids_[idx],
            "score": np.asarray(sc, np.float64),
            "reason": reasons,
            "collab_score": collab,
            "content_score": content,
            "listens": rec.listens_[idx],
            "artist": rec.artist_[idx],
            "title": rec.title_[idx],
        }
    )
