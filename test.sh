#!/usr/bin/env bash
# Run the whole test suite: unit, integration (real PostGIS) and browser (Debian's Chromium).
# Provisions what it needs the same way run.sh does; extra arguments go to pytest.
set -euo pipefail
FAULTLINE_GROUPS=test
source "$(dirname "$0")/scripts/bootstrap.sh"
command -v chromium >/dev/null || apt_install chromium
# Tests make their own database on the server that run.sh would use, then drop it.
exec "$VENV/bin/python" -m pytest "$@"
