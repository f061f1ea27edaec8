#!/usr/bin/env bash
# Runs the whole test suite, as CI does. Installs what the tests need first (PostgreSQL server
# binaries, FreeTDS / python-tds for the independent TDS client checks) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x scripts/install-test-deps.sh ]; then
  scripts/install-test-deps.sh
fi

# Unit, integration, end-to-end (binaries) and doc tests of every crate in the workspace.
cargo test --workspace --locked "$@"
