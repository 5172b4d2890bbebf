"""Valence and arousal of an analysed track (:mod:`audiotaste.tagger.affect` holds the model).

The shipped head (``models/affect``) reads the musicnn student's tags and embedding, averaged over
at most :data:`~audiotaste.tagger.affect.MAX_PATCHES` (6) 3-s patches per analysis segment, and the
analysis descriptors. :class:`AffectListener` takes each segment as the segment loop cuts it;
:func:`with_affect` puts the answer into the result. Where the head cannot judge — silence, no
affect model or student installed — both values stay ``None`` and ``Analysis.notes`` says why;
with ``tags=False`` (no models asked for) they stay ``None`` without a note, as the tags do.

The same student features feed the genre/mood head (``models/tags``, :mod:`audiotaste.tagger.tag_head`):
:func:`with_tag_head` replaces the CNN's genre and mood with the head's, and
:func:`with_tag_confidence` shrinks and flags the genre and mood of recordings the taggers cannot judge.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from .schema import Analysis

__all__ = ["AffectListener", "tagging_id", "with_affect", "with_tag_confidence", "with_tag_head"]

#: Shortest recording whose tags are published at full confidence, s: one 3-s patch of either tagger.
TAG_MIN_S = 2.9
#: Logits of low-confidence tags (clipped to +-9.2) are multiplied by this: every probability lands in 0.28-0.72.
LOW_CONFIDENCE_SHRINK = 0.1


class AffectListener:
    """Student tags and embedding of a track, accumulated segment by segment.

    Parameters
    ----------
    enabled : bool
        ``False`` (``analyze(tags=False)``) makes every call a no-op and adds no note.
    sr : int
        Sample rate of the segments, Hz.
    """

    def __init__(self, *, enabled: bool, sr: int) -> None:
        self.sr = sr
        self.head: Any = None
        self.student: Any = None
        self.note: str | None = None
        self.seconds = 0.0
        self._probs: list[np.ndarray] = []
        self._embs: list[np.ndarray] = []
        self.enabled = enabled
        if not enabled:  # no models asked for: no valence, and nothing to explain (as with tags)
            return
        from audiotaste.tagger.affect import load_affect_head, load_student

        self.head = load_affect_head()
        if self.head is None:
            self.note = "no affect model installed (models/affect)"
            return
        self.student = load_student()
        if self.student is None:
            self.note = "the musicnn student the affect head reads is not installed (models/musicnn-msd-student)"

    def add(self, y: np.ndarray) -> None:
        """Listen to one analysis segment (mono, at ``sr``); the buffer may be reused afterwards."""
        if self.student is None or y.size == 0:
            return
        from audiotaste.tagger.affect import student_patches

        t0 = time.perf_counter()
        probs, embs = self.student.predict_and_embed_patches(student_patches(y, self.sr))
        self._probs.append(probs)
        self._embs.append(embs)
        self.seconds += time.perf_counter() - t0

    def features(self) -> tuple[dict[str, dict[str, float]], np.ndarray] | None:
        """Mean student tags ``{"tag": {...}}`` and embedding [200] over the patches heard."""
        if not self._probs:
            return None
        probs, embs = np.concatenate(self._probs), np.concatenate(self._embs)
        labels = self.student.labels["tag"]
        return {"tag": dict(zip(labels, map(float, probs.mean(axis=0)), strict=True))}, embs.mean(axis=0)


def with_affect(result: Analysis, listener: AffectListener) -> Analysis:
    """``result`` with ``valence`` and ``arousal`` set, or ``None`` and a note saying why."""
    if not listener.enabled:
        return result
    if listener.note is not None:
        return _without(result, listener.note)
    feats = listener.features()
    if feats is None:
        return _without(result, "no audio to judge")
    tags, embedding = feats
    affect = listener.head.predict_track(
        embedding=embedding, tags=tags, descriptors=result.descriptors(),
        tagger=f"{listener.student.name}@{listener.student.version}",
    )  # fmt: skip
    if affect.note is not None:
        return _without(result, affect.note)
    return replace(result, valence=affect.valence, arousal=affect.arousal)


def _without(result: Analysis, reason: str) -> Analysis:
    note = f"valence/arousal: {reason}"
    return replace(result, valence=None, arousal=None, notes=f"{result.notes}; {note}" if result.notes else note)


def with_tag_head(result: Analysis, listener: AffectListener) -> Analysis:
    """``result`` with ``genre`` and ``mood`` from the installed genre/mood head (``models/tags``).

    The head reads the student's features and the default CNN's tags and embedding, so it replaces
    the CNN's ``genre``/``mood`` only when both are there and the CNN is the one the head was fitted
    on (a user's own ``model`` keeps its own tags). Anything else leaves ``result`` as it is.
    """
    if not listener.enabled or listener.student is None or not {"genre", "mood"} <= set(result.tags):
        return result
    from audiotaste.tagger.tag_head import input_vector, load_tag_head

    head = load_tag_head()
    if head is None or head.card.get("cnn") != result.model:
        return result
    feats = listener.features()
    if feats is None:
        return result
    student_tags, student_embedding = feats
    cnn_tags = [result.tags[tax].get(name, np.nan) for tax, _, name in (lab.partition(".") for lab in head.labels)]
    x = input_vector(
        student_embedding=student_embedding,
        student_tags=list(student_tags["tag"].values()), descriptors=result.descriptors(),
        cnn_embedding=result.embedding, cnn_tags=cnn_tags,
    )  # fmt: skip
    probs = head.predict_proba(x)[0]
    tags = {tax: dict(probs_) for tax, probs_ in result.tags.items()}
    for label, p in zip(head.labels, probs, strict=True):
        tax, _, name = label.partition(".")
        tags.setdefault(tax, {})[name] = float(p)
    model_id = f"{head.card.get('name', 'tags')}@{head.card.get('version', '?')}"
    # the main tagging is now the pair: a catalogue's --retag must see a new head as a new model
    return replace(result, tags=tags, model=f"{result.model}+{model_id}",
                   tag_models={**result.tag_models, "genre": model_id, "mood": model_id})


def tagging_id(tagger_id: str) -> str:
    """What ``Analysis.model`` will say for main tagger ``tagger_id`` (``"default@1.5.0"``): the
    tagger, plus the installed genre/mood head where the head was fitted on that tagger."""
    from audiotaste.tagger.tag_head import load_tag_head

    head = load_tag_head()
    if head is None or head.card.get("cnn") != tagger_id:
        return tagger_id
    return f"{tagger_id}+{head.card.get('name', 'tags')}@{head.card.get('version', '?')}"


def with_tag_confidence(result: Analysis) -> Analysis:
    """Genre and mood of a recording the taggers cannot judge, shrunk toward 0.5 and flagged in ``notes``.

    Too short for one tagger patch, speech (the key's check, ``features.nonmusic``, heard speech in
    every analysis segment: the key note says ``no key: speech``), or neither a pulse nor a key
    (noise, hum): the taggers still answer, and an unflagged answer would read as a confident genre.
    Their logits are multiplied by :data:`LOW_CONFIDENCE_SHRINK`, so the order stays and no
    probability is far from 0.5.
    """
    if not result.tags:
        return result
    from audiotaste.features.tonal import SPEECH_REASON

    if result.duration_s < TAG_MIN_S:
        reason = f"too short ({result.duration_s:.2f} s < {TAG_MIN_S} s)"
    elif result.key is None and f"key: {SPEECH_REASON}" in (result.notes or ""):
        reason = "speech"
    elif result.tempo_bpm is None and result.key is None:
        reason = "neither a pulse nor a key (noise-like)"
    else:
        return result
    shrunk = {}
    for tax, probs in result.tags.items():
        p = np.clip(np.array(list(probs.values()), np.float64), 1e-4, 1 - 1e-4)
        q = 1.0 / (1.0 + np.exp(-LOW_CONFIDENCE_SHRINK * np.log(p / (1 - p))))
        shrunk[tax] = dict(zip(probs, map(float, q), strict=True))
    note = f"genre/mood: low confidence, {reason}: probabilities shrunk toward 0.5"
    return replace(result, tags=shrunk, notes=f"{result.notes}; {note}" if result.notes else note)
