#!/usr/bin/env bash
# Essentia (MTG) from its PyPI wheel: RhythmExtractor2013, PercivalBpmEstimator, KeyExtractor.
source "$(dirname "$0")/_venv_common.sh"
venv_begin essentia || exit 0
"$VENV/bin/pip" install --quiet essentia numpy
venv_done "$(versions essentia numpy)"
