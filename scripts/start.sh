#!/usr/bin/env bash
# One command to install and start the platform on a fresh machine:
#   bash scripts/start.sh            # http://127.0.0.1:5000/ , demo province on first start
# Environment: HOST, PORT, DATABASE_URL, REDIS_URL, LOAD_DEMO, INSTANCE_DIR ... (see config.py).
# Extra arguments go to run.py (e.g. --no-demo).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/venv.sh
ensure_venv requirements.txt

exec .venv/bin/python run.py "$@"
