# Sourced by run.sh and test.sh: create .venv and (re)install requirements.txt
# whenever it changes. Needs only a Python 3.11+ on PATH.
set -eu
cd "$(dirname "$0")/.."
PYTHON_BIN=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON_BIN" -m venv .venv
fi
wanted=$(.venv/bin/python -c 'import hashlib,sys; print(hashlib.sha256(open("requirements.txt","rb").read()).hexdigest())')
if [ "$(cat .venv/.requirements.sha256 2>/dev/null || true)" != "$wanted" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r requirements.txt
    echo "$wanted" > .venv/.requirements.sha256
fi
PATH="$PWD/.venv/bin:$PATH"
export PATH
