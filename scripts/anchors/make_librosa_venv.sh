#!/usr/bin/env bash
# librosa (beat_track; chroma + Krumhansl-Schmuckler key) as a reference anchor.
source "$(dirname "$0")/_venv_common.sh"
venv_begin librosa || exit 0
"$VENV/bin/pip" install --quiet librosa soundfile
venv_done "$(versions librosa numpy soundfile)"
