#!/usr/bin/env bash
# The LightFM anchor for scripts/bench_recommend.py, in its own venv (never imported by the package).
# lightfm 1.17 ships only an sdist whose setup.py sets a flag on __builtins__; under pip's PEP 517
# backend __builtins__ is a dict, not the module, and the build fails with "AttributeError: 'dict'
# object has no attribute '__LIGHTFM_SETUP__'". Run as a script (pip's legacy setup.py path, kept by
# pip < 25), __builtins__ is the module and the C extension builds with gcc.
set -euo pipefail
VENV=${1:-/work/venvs/lightfm}
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install --quiet "pip<24.1" "setuptools<70" wheel
"$VENV/bin/pip" install --quiet "numpy<2.3" scipy
"$VENV/bin/pip" install --quiet --no-use-pep517 --no-build-isolation "lightfm==1.17"
"$VENV/bin/python" -c "import lightfm, lightfm._lightfm_fast; print('lightfm', lightfm.__version__)"
