"""Genre and mood tagging: a small CNN over log-mel patches with calibrated sigmoid heads.

``load_model("default")`` gives the shipped :class:`Tagger`; ``audiotaste train`` (see
:mod:`audiotaste.tagger.train`) makes new ones from a corpus manifest or a user's own labels.
"""

from .infer import Tagger, TaggerOutput, find_models, load_model

__all__ = ["Tagger", "TaggerOutput", "find_models", "load_model"]
