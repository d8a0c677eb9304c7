#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages, services, venv, then pytest.
#   bash scripts/test.sh [pytest args...]
# Repeat runs are fast and offline-friendly: packages are checked with dpkg before apt is used,
# the venv is reinstalled only when pyproject.toml changed. Under CI=true nothing is skipped:
# the fixtures fail when PostgreSQL, Redis or chromium is missing.
set -uo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(postgresql-15-postgis-3 chromium fonts-noto-cjk fontconfig redis-server)
PG_VERSION=15

log() { printf '[test.sh] %s\n' "$*"; }

install_system_packages() {
    local missing=()
    for package in "${SYSTEM_PACKAGES[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing system packages (${missing[*]}) and not root: the tests that need them will skip (fail under CI=true)"
        return 0
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || return 1
    apt-get install -y -q --no-install-recommends "${missing[@]}" || return 1
}

start_postgresql() {
    command -v pg_isready >/dev/null 2>&1 || return 0
    if pg_isready -q -h 127.0.0.1 -p 5432; then return 0; fi
    log "starting PostgreSQL $PG_VERSION"
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start || log "pg_ctlcluster failed"
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 1
    done
    log "PostgreSQL is not accepting connections on 127.0.0.1:5432"
}

start_redis() {
    command -v redis-server >/dev/null 2>&1 || return 0
    if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no >/dev/null || log "redis-server failed"
    for _ in $(seq 1 20); do
        redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    log "Redis is not answering on 127.0.0.1:6379"
}

install_system_packages || { log "system package installation failed"; exit 1; }
start_postgresql
start_redis
python3 scripts/dev.py --extras test --install-only || exit 1

mkdir -p test-artifacts
workers=()
# Two cores: two xdist workers roughly halve the run (each gets its own PostgreSQL database).
if .venv/bin/python -c "import xdist" 2>/dev/null && [ "${CITYOPS_TEST_WORKERS:-2}" != "0" ]; then
    workers=(-n "${CITYOPS_TEST_WORKERS:-2}")
fi

log "pytest ${workers[*]} $*"
.venv/bin/python -m pytest "${workers[@]}" "$@" 2>&1 | tee test-artifacts/pytest.log
status=${PIPESTATUS[0]}

summary=$(grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* =+$' test-artifacts/pytest.log | tail -n 1)
if [ "$status" -eq 5 ]; then
    log "pytest collected no tests: that is a failure, not a pass"
    status=1
fi
echo "${summary:-pytest printed no summary (exit $status)}"
exit "$status"
