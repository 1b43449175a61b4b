# Shell functions shared by bootstrap.sh and upgrade-deps: Debian packages when we may, a Python 3.11+,
# and uv installing the Python packages from uv.lock.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

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

# uv installs every Python package from uv.lock (exact versions, hashes checked) and nothing else; uv itself
# comes from PyPI pinned by hash (scripts/uv-requirements.txt) into a small venv of its own, .tools/.
install_uv() {
  local tools=$1
  if ! "$tools/bin/uv" --version 2>/dev/null | grep -q "^uv $(sed -n 's/^uv==\([0-9.]*\).*/\1/p' "$ROOT/scripts/uv-requirements.txt") "; then
    echo "Installing uv (pinned, hash-checked) in $tools…" >&2
    rm -rf "$tools"
    "$PYTHON" -m venv "$tools" 2>/dev/null || {
      rm -rf "$tools"
      if [ "$PYTHON" = python3 ]; then apt_install python3-venv; else apt_install "$PYTHON-venv"; fi
      "$PYTHON" -m venv "$tools"
    }
    "$tools/bin/python" -m pip install --no-deps --require-hashes -r "$ROOT/scripts/uv-requirements.txt" \
      > "$tools/pip.log" 2>&1 || { cat "$tools/pip.log" >&2; echo "Installing uv failed." >&2; exit 1; }
  fi
  UV="$tools/bin/uv"
}

# python_env VENV [GROUP…]: VENV holds exactly the runtime packages of uv.lock, plus the named groups
# (test.sh: `test`). --locked refuses a lock that no longer matches pyproject.toml instead of resolving
# afresh; run scripts/upgrade-deps to move the lock on purpose. Quick when nothing changed.
python_env() {
  local venv=$1; shift
  local groups=()
  for group in "$@"; do groups+=(--group "$group"); done
  install_uv "$ROOT/.tools"
  UV_PROJECT_ENVIRONMENT="$venv" UV_PYTHON_DOWNLOADS=never "$UV" sync --locked --quiet \
    --python "$(command -v "$PYTHON")" "${groups[@]}" || {
    echo "Installing the Python packages from uv.lock failed (see above)." >&2; exit 1; }
}

