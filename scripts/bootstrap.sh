# Sourced by run.sh and test.sh: a Python 3.11+ virtualenv ($VENV, .venv by default) with Faultline and exactly
# the packages of uv.lock (test.sh adds the `test` group). Installs missing Debian packages when it may (root or
# passwordless sudo); otherwise says which.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PYTHON=$(find_python) || { apt_install python3.11 python3.11-venv; PYTHON=$(find_python); }

# FAULTLINE_VENV: where the virtualenv goes (.venv by default; CI's runtime check uses a fresh one).
VENV=${FAULTLINE_VENV:-$ROOT/.venv}
python_env "$VENV" ${FAULTLINE_GROUPS:-}
