#!/usr/bin/env bash
# librosa (beat_track; chroma + Krumhansl-Schmuckler key) as a reference anchor.
source "$(dirname "$0")/_venv_common.sh"
venv_begin librosa || exit 0
"$VENV/bin/pip" install --quiet librosa soundfile
version=$("$VENV/bin/python" -c 'import librosa; print(librosa.__version__)')
venv_done "librosa==$version"
