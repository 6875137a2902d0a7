#!/usr/bin/env bash
# The incident rehearsed end to end on the embedded local stack: set up, start the stack with the
# stygig-incident scenario, run all five runbook steps headless with params/local.yaml, stop the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing   # the local stack accepts any key
STATE_DIR=${STATE_DIR:-$PWD/runs/.local-stack}
.venv/bin/endpoint-runbook local down --state-dir "$STATE_DIR" >/dev/null 2>&1 || true
trap '.venv/bin/endpoint-runbook local down --state-dir "$STATE_DIR"' EXIT
.venv/bin/endpoint-runbook local up --state-dir "$STATE_DIR" --scenario stygig-incident
.venv/bin/endpoint-runbook run params/local.yaml "$@"
