#!/usr/bin/env bash
# After changing user-facing strings: extract them and merge into every catalog (translations are kept).
# Default keywords plus N_; Jinja {% trans %}{% pluralize %} blocks come through as ngettext(s, p, n).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pybabel extract -F web/babel.cfg -k N_ --no-location --sort-output \
  --project Faultline --copyright-holder "Faultline contributors" -o web/locale/messages.pot . >/dev/null 2>&1
.venv/bin/pybabel update -i web/locale/messages.pot -d web/locale --no-fuzzy-matching --ignore-obsolete >/dev/null 2>&1
echo "Catalogs updated: translate the new empty msgstr entries in web/locale/*/LC_MESSAGES/messages.po"
