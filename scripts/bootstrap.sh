# Sourced by run.sh and test.sh: a Python 3.11+ virtualenv in .venv with Faultline installed.
# Installs missing Debian packages when it may (root or passwordless sudo); otherwise says which.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 1; fi
}

APT_UPDATED=""
apt_install() {
  echo "Installing Debian packages: $*" >&2
  if [ -z "$APT_UPDATED" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || {
      echo "Faultline needs: $*. Please run:  sudo apt-get install -y $*" >&2; exit 2; }
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || {
    echo "Faultline needs: $*. Please run:  sudo apt-get install -y $*" >&2; exit 2; }
}

find_python() {
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

PYTHON=$(find_python) || { apt_install python3.11 python3.11-venv; PYTHON=$(find_python); }

if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtualenv in .venv…" >&2
  "$PYTHON" -m venv .venv 2>/dev/null || {
    rm -rf .venv
    if [ "$PYTHON" = python3 ]; then apt_install python3-venv; else apt_install "$PYTHON-venv"; fi
    "$PYTHON" -m venv .venv
  }
fi

# Reinstall only when the dependencies changed, so a second run is quick.
# The test extras are a superset: a venv set up by test.sh also serves run.sh.
EXTRAS=${FAULTLINE_EXTRAS:-}
STAMP=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$STAMP-test" ] && { [ -n "$EXTRAS" ] || [ ! -f "$STAMP" ]; }; then
  echo "Installing Faultline and its Python packages…" >&2
  # pip's build chatter goes to a log, shown only when the install fails.
  { .venv/bin/python -m pip install --upgrade pip &&
    .venv/bin/python -m pip install -e ".${EXTRAS:+[$EXTRAS]}"; } > .venv/pip.log 2>&1 || {
    tail -40 .venv/pip.log >&2; echo "Installing the Python packages failed (full log: .venv/pip.log)" >&2; exit 1; }
  rm -f .venv/.installed-*
  touch "$STAMP${EXTRAS:+-$EXTRAS}"
fi
