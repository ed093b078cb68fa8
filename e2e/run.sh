#!/usr/bin/env bash
# make e2e / make e2e-celery: install PostgreSQL and Redis from Debian when missing, then run the driver.
# Usage: e2e/run.sh [--executor local|celery] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null; then
    echo "==> installing postgresql and redis-server (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql redis-server >/dev/null
fi

export E2E_RUN_DIR="${E2E_RUN_DIR:-$(mktemp -d -t aep-e2e-XXXXXX)}"
# Backstop: whatever happens to the driver, stop every process group it recorded, by pid.
cleanup() {
    [ -f "$E2E_RUN_DIR/pids" ] || return 0
    while read -r pid name; do
        if kill -0 -- "-$pid" 2>/dev/null; then
            echo "==> stopping leftover $name (pid $pid)"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done <"$E2E_RUN_DIR/pids"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$PY" e2e/driver.py "$@"
