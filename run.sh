#!/usr/bin/env bash
# Set up everything and run Faultline with the demo city on http://127.0.0.1:8000
# (virtualenv, Python packages, PostGIS, migrations, demo data, secrets). Safe to run again.
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "$VENV/bin/faultline" up "$@"
