#!/usr/bin/env bash
# One command to install and run the tests:
#   bash scripts/test.sh [pytest args...]      e.g. bash scripts/test.sh -m e2e
# Runs on SQLite by default; set DATABASE_URL / REDIS_URL for PostgreSQL / Redis (see .ci/run).
# The browser test uses Debian's Chromium (/usr/bin/chromium); browsers are never downloaded
# through `playwright install`.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/venv.sh
ensure_venv requirements-dev.txt

# Browser and CJK fonts for the e2e test, from Debian's packages.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing chromium, chromium-driver, fonts-noto-cjk (apt-get) …" >&2
        if ! { apt-get update -qq &&
               DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                   chromium chromium-driver fonts-noto-cjk; }; then
            echo "ERROR: apt-get could not install chromium/fonts-noto-cjk for the browser test." >&2
            exit 1
        fi
    else
        echo "WARNING: /usr/bin/chromium is missing and we are not root: the browser test (tests/e2e) will be skipped." >&2
        echo "         Install it with: sudo apt-get install chromium chromium-driver fonts-noto-cjk" >&2
    fi
fi

set +e
.venv/bin/python -m pytest -q "$@"
code=$?
set -e
exit "$code"
