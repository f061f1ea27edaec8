#!/usr/bin/env bash
# Installs the independent SQL Server clients the Stellar simulator's tests query it with:
#   - FreeTDS `tsql` (Debian package freetds-bin)
#   - python-tds (`import pytds`)
# They share no code with tiberius, so a test that passes with them shows the simulator speaks real TDS.
#
# Idempotent: each client is installed only when it is missing. CI calls this before `cargo test`.
# Runs apt-get as root directly, or through sudo when it is available.
set -euo pipefail

log() { printf 'install-test-deps: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root (or sudo) to run: $*"
        return 1
    fi
}

# --- FreeTDS tsql -----------------------------------------------------------------------------
if command -v tsql >/dev/null 2>&1; then
    log "tsql already installed ($(command -v tsql))"
else
    if ! command -v apt-get >/dev/null 2>&1; then
        log "tsql is missing and apt-get is not available: install FreeTDS (freetds-bin) by hand"
        exit 1
    fi
    log "installing freetds-bin (tsql)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends freetds-bin
    command -v tsql >/dev/null 2>&1 || { log "tsql still missing after installing freetds-bin"; exit 1; }
fi

# --- python-tds -------------------------------------------------------------------------------
PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    log "$PYTHON is missing: install Python 3 to run the python-tds check"
    exit 1
fi
if "$PYTHON" -c 'import pytds' >/dev/null 2>&1; then
    log "python-tds already installed"
else
    log "installing python-tds with pip --user"
    # Inside a virtualenv or pyenv shim --user may be refused; fall back to a plain install there.
    "$PYTHON" -m pip install --quiet --user python-tds 2>/dev/null \
        || "$PYTHON" -m pip install --quiet python-tds
    "$PYTHON" -c 'import pytds' || { log "python-tds still not importable after pip install"; exit 1; }
fi

log "ok: tsql and python-tds are available"
