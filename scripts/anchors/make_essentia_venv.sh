#!/usr/bin/env bash
# Essentia (MTG) from its PyPI wheel: RhythmExtractor2013, PercivalBpmEstimator, KeyExtractor.
source "$(dirname "$0")/_venv_common.sh"
venv_begin essentia || exit 0
"$VENV/bin/pip" install --quiet essentia numpy
version=$("$VENV/bin/python" -c 'import essentia; print(essentia.__version__)')
venv_done "essentia==$version"
