#!/usr/bin/env bash
# Set up and run the whole test suite (pass `-m "not slow"` for the quick set without model containers).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
