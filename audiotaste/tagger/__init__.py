"""Genre and mood tagging: a small CNN over log-mel patches with calibrated sigmoid heads, and musicnn.

``load_model("default")`` gives the shipped tagger; every tagger satisfies the :class:`Tagger`
protocol (:mod:`audiotaste.tagger.base`). ``audiotaste train`` (see :mod:`audiotaste.tagger.train`)
makes new ones from a corpus manifest or a user's own labels.
"""

from .base import Tagger, TaggerOutput, TagStream
from .infer import CnnTagger
from .loading import find_models, load_model

__all__ = ["CnnTagger", "TagStream", "Tagger", "TaggerOutput", "find_models", "load_model"]
