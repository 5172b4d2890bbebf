"""Valence and arousal of an analysed track, from the main tagger's outputs and the descriptors.

The head itself (:class:`audiotaste.tagger.affect.AffectHead`, ``models/affect``) reads what
``analyze`` has already measured, so this costs microseconds. Where it cannot judge — no tags,
silence, another tagger's features, no affect model installed — both values stay ``None`` and
``Analysis.notes`` says why.
"""

from __future__ import annotations

from dataclasses import replace

from .schema import Analysis

__all__ = ["with_affect"]


def with_affect(result: Analysis) -> Analysis:
    """``result`` with ``valence`` and ``arousal`` set, or ``None`` and a note saying why."""
    from audiotaste.tagger.affect import load_affect_head

    if not result.tags or not result.embedding:
        return _without(result, "no tags (valence and arousal read the default tagger's outputs)")
    head = load_affect_head()
    if head is None:
        return _without(result, "no affect model installed (models/affect)")
    affect = head.predict_track(
        embedding=result.embedding, tags=result.tags, descriptors=result.descriptors(), tagger=result.model
    )
    if affect.note is not None:
        return _without(result, affect.note)
    return replace(result, valence=affect.valence, arousal=affect.arousal)


def _without(result: Analysis, reason: str) -> Analysis:
    return replace(result, valence=None, arousal=None, notes=(*result.notes, f"valence/arousal: {reason}"))
