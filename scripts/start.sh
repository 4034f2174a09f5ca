#!/usr/bin/env bash
# One command to install and start the platform on a fresh machine:
#   bash scripts/start.sh            # http://127.0.0.1:5000/ , demo province on first start
# Environment: HOST, PORT, DATABASE_URL, REDIS_URL, LOAD_DEMO, INSTANCE_DIR ... (see config.py).
# Extra arguments go to run.py (e.g. --no-demo).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
REQS=requirements.txt
STAMP=.venv/.installed-requirements.sha256

if [ ! -x .venv/bin/python ]; then
    echo "创建虚拟环境 .venv …" >&2
    "$PYTHON" -m venv .venv
fi

# Reinstall only when the requirement files changed (hash kept in .venv).
want="$(cat "$REQS" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
    echo "安装依赖（$REQS）…" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQS"
    echo "$want" > "$STAMP"
fi

exec .venv/bin/python run.py "$@"
