#!/usr/bin/env bash
# tempocnn 0.0.8 (Schreiber & Müller 2018; models fcn and cnn ship inside its wheel) in its own venv.
# tempocnn pins an old tensorflow, so it goes in with --no-deps beside the TensorFlow/Keras we choose.
source "$(dirname "$0")/_venv_common.sh"
venv_begin tempocnn || exit 0
"$VENV/bin/pip" install --quiet tensorflow-cpu==2.21.0 'keras==3.15.*' librosa h5py
"$VENV/bin/pip" install --quiet --no-deps tempocnn==0.0.8
"$VENV/bin/python" -c 'import tempocnn.classifier, tensorflow, keras; print("tf", tensorflow.__version__, "keras", keras.__version__)'
venv_done "$(versions tempocnn tensorflow-cpu keras librosa h5py numpy)"
