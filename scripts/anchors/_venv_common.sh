# Shared by make_*_venv.sh: create (once) a Python 3.11 venv under $VENVS/<name> and mark it complete.
# Sourced, not run.  The marker file is written last, so an interrupted build is redone next time.
set -euo pipefail
VENVS="${AUDIOTASTE_VENVS:-/work/venvs}"
PYTHON="${PYTHON:-python3.11}"

venv_begin() {  # venv_begin NAME -> sets VENV, returns 1 when already complete
    VENV="$VENVS/$1"
    if [[ -f "$VENV/.anchor-installed" ]]; then
        echo "$VENV: already installed ($(cat "$VENV/.anchor-installed"))"
        return 1
    fi
    mkdir -p "$VENVS"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
}

versions() {  # versions PKG... -> "pkg==x.y pkg2==..." as installed in $VENV
    "$VENV/bin/python" -c 'import sys, importlib.metadata as m; print(" ".join(f"{p}=={m.version(p)}" for p in sys.argv[1:]))' "$@"
}

venv_done() {  # venv_done VERSION-STRING
    printf '%s\n' "$1" > "$VENV/.anchor-installed"
    echo "$VENV: installed ($1)"
}
