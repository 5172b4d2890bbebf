"""Taste profiles and recommendations from listening history, cold tracks included."""

from audiotaste.recommend.profile import TasteProfile
from audiotaste.recommend.recommender import Recommender

__all__ = ["Recommender", "TasteProfile"]
