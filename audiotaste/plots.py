"""Moved to :mod:`audiotaste.report.figures` (every figure lives there); these names stay."""

from audiotaste.report.figures import plot_analysis, plot_taste_profile

__all__ = ["plot_analysis", "plot_taste_profile"]
