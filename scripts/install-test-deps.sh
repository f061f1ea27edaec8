#!/usr/bin/env bash
# Installs the independent SQL Server clients the Stellar simulator's tests query it with:
#   - FreeTDS `tsql` (Debian package freetds-bin)
#   - python-tds (`import pytds`)
# They share no code with tiberius, so a test that passes with them shows the simulator speaks real TDS.
# Also installs PostgreSQL's server binaries (package `postgresql`) for the throwaway test server,
# and Debian's chromium + chromium-driver for the control-centre page's browser test.
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

# --- PostgreSQL server binaries ----------------------------------------------------------------
# The PostgreSQL tests start a throwaway server from initdb/pg_ctl/postgres (fluxion-etl-sim's
# `postgres` module finds them on PATH or under /usr/lib/postgresql/*/bin), unless DATABASE_URL
# names a server. Debian's `postgresql` package installs them under /usr/lib/postgresql/*/bin.
pg_bin_present() {
    command -v initdb >/dev/null 2>&1 && return 0
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && return 0
    done
    return 1
}
if pg_bin_present; then
    log "PostgreSQL server binaries already installed"
else
    if ! command -v apt-get >/dev/null 2>&1; then
        log "PostgreSQL's initdb is missing and apt-get is not available: install PostgreSQL's server package by hand"
        exit 1
    fi
    log "installing postgresql (server binaries for the test harness)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # The package starts a cluster of its own; the tests never use it, they start their own.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql
    pg_bin_present || { log "initdb still missing after installing postgresql"; exit 1; }
fi
# initdb and postgres refuse to run as root; the harness then runs them as `fluxion-test`
# (falling back to `nobody`), through setpriv or runuser.
if [ "$(id -u)" -eq 0 ] && ! id -u fluxion-test >/dev/null 2>&1; then
    log "creating the unprivileged user fluxion-test for the PostgreSQL test server"
    useradd --system --no-create-home --shell /usr/sbin/nologin fluxion-test 2>/dev/null \
        || adduser --system --no-create-home --disabled-login fluxion-test
fi

# --- Chromium and ChromeDriver -----------------------------------------------------------------
# The control-centre page's browser test (fluxion-etl-server/tests/browser.rs) drives Debian's
# headless chromium through chromedriver (/usr/bin/chromium, /usr/bin/chromedriver).
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    log "chromium and chromedriver already installed"
else
    if ! command -v apt-get >/dev/null 2>&1; then
        log "chromium/chromedriver are missing and apt-get is not available: install them by hand"
        exit 1
    fi
    log "installing chromium and chromium-driver (browser test of the control-centre page)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
    command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
        || { log "chromium or chromedriver still missing after installing them"; exit 1; }
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

log "ok: PostgreSQL server binaries, tsql, python-tds, chromium and chromedriver are available"
