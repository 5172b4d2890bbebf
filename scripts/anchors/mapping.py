"""How each tagger's labels are read as the real corpus's labels (by name; written out so it can be argued with).

The real genre labels are AllMusic's (the 4Q clips). A system's score for an AllMusic genre is the
**largest** probability among its tags mapped to that genre (a clip tagged "hard rock" is Pop/Rock however
low "rock" is). Genres a system has no tag for are left out of its macro average, which then says over
how many genres it ran.

Valence and arousal are read from mood-type tags: score = mean(positive tags) − mean(negative tags),
shown as the probability (score + 1) / 2; the four Russell quadrants then score as products
(Q1 = v·a, Q2 = (1−v)·a, Q3 = (1−v)·(1−a), Q4 = v·(1−a)). Where audiotaste's Analysis carries ``valence``
and ``arousal`` itself, those are used instead of its mood tags.
"""

from __future__ import annotations

from collections.abc import Mapping

# AllMusic genre -> tags of each taxonomy ("ours": models/default; "msd": musicnn-msd and the shipped
# student, which tag the same 50 MSD/last.fm tags; "mtt": musicnn-mtt's 50 MagnaTagATune tags).
GENRE_MAP: dict[str, dict[str, tuple[str, ...]]] = {
    "ours": {
        "Pop/Rock": ("genre.pop", "genre.rock"),
        "Jazz": ("genre.jazz",),
        "Electronic": ("genre.electronic",),
        "R&B": ("genre.soul",),
        "Country": ("genre.country",),
        "Blues": ("genre.blues",),
        "Rap": ("genre.hiphop",),
        "Folk": ("genre.folk",),
        "Latin": ("genre.latin",),
        "Reggae": ("genre.reggae",),
        "Classical": ("genre.classical",),
        "New Age": ("genre.ambient",),
    },
    "msd": {
        "Pop/Rock": (
            "tag.rock", "tag.pop", "tag.alternative", "tag.indie", "tag.alternative rock", "tag.classic rock",
            "tag.indie rock", "tag.punk", "tag.hard rock", "tag.metal", "tag.heavy metal",
            "tag.Progressive rock", "tag.indie pop",
        ),
        "Jazz": ("tag.jazz",),
        "Electronic": ("tag.electronic", "tag.electronica", "tag.electro", "tag.House", "tag.dance"),
        "R&B": ("tag.soul", "tag.rnb", "tag.funk"),
        "Country": ("tag.country",),
        "Blues": ("tag.blues",),
        "Rap": ("tag.Hip-Hop",),
        "Folk": ("tag.folk",),
        "New Age": ("tag.ambient", "tag.chillout"),
        "Easy Listening": ("tag.easy listening",),
    },
    "mtt": {
        "Pop/Rock": ("tag.rock", "tag.pop", "tag.metal"),
        "Electronic": ("tag.electronic", "tag.techno", "tag.dance"),
        "Country": ("tag.country",),
        "Classical": ("tag.classical", "tag.classic"),
        "New Age": ("tag.new age", "tag.ambient"),
    },
}

# (positive tags, negative tags) for valence and arousal.
MOOD_MAP: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "ours": {
        "valence": (("mood.happy", "mood.tender"), ("mood.sad", "mood.tense")),
        "arousal": (("mood.energetic", "mood.tense"), ("mood.calm", "mood.tender", "mood.sad")),
    },
    "msd": {
        "valence": (("tag.happy", "tag.party", "tag.catchy", "tag.sexy"), ("tag.sad",)),
        "arousal": (
            ("tag.party", "tag.dance", "tag.hard rock", "tag.metal", "tag.heavy metal", "tag.punk"),
            ("tag.Mellow", "tag.chill", "tag.chillout", "tag.easy listening", "tag.ambient", "tag.acoustic"),
        ),
    },
    "mtt": {
        # MagnaTagATune has no happy/sad-type tag: no valence.
        "arousal": (
            ("tag.fast", "tag.loud", "tag.beat", "tag.beats", "tag.drums", "tag.techno", "tag.metal", "tag.dance"),
            ("tag.slow", "tag.quiet", "tag.soft", "tag.ambient", "tag.new age"),
        ),
    },
}

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")


def genre_scores(kind: str, tags: Mapping[str, float]) -> dict[str, float]:
    """AllMusic genre -> score (largest mapped tag probability) for the genres this taxonomy names."""
    out = {}
    for genre, names in GENRE_MAP[kind].items():
        present = [tags[n] for n in names if n in tags]
        if present:
            out[genre] = max(present)
    return out


def mood_axes(kind: str, tags: Mapping[str, float]) -> dict[str, float]:
    """``{"valence": p, "arousal": p}`` in [0, 1] from mood-type tags (only the axes the taxonomy has)."""
    out = {}
    for axis, (positive, negative) in MOOD_MAP[kind].items():
        pos = [tags[n] for n in positive if n in tags]
        neg = [tags[n] for n in negative if n in tags]
        if pos and neg:
            out[axis] = (sum(pos) / len(pos) - sum(neg) / len(neg) + 1.0) / 2.0
    return out


def quadrant_scores(valence: float, arousal: float) -> dict[str, float]:
    """Russell quadrant scores from valence and arousal probabilities."""
    return {
        "Q1": valence * arousal,
        "Q2": (1 - valence) * arousal,
        "Q3": (1 - valence) * (1 - arousal),
        "Q4": valence * (1 - arousal),
    }


def pooled(parts: list[dict[str, float]]) -> dict[str, float]:
    """Mean of several systems' scores per key, over the systems that have the key (the teachers pooled)."""
    keys = sorted({k for p in parts for k in p})
    return {k: sum(p[k] for p in parts if k in p) / sum(1 for p in parts if k in p) for k in keys}
