#!/usr/bin/env bash
# Set up (idempotently) the project's virtual environment with the local stack and the test tools, and
# register its own Jupyter kernel so papermill runs the notebooks in it (not in some kernel without the project).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --disable-pip-version-check -q --upgrade "pip>=23" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install --disable-pip-version-check -q -e ".[local,dev]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import endpoint_runbook, moto, torch" \
  || { echo "setup: the install did not complete (see pip's output above)" >&2; exit 1; }
.venv/bin/python -m ipykernel install --sys-prefix --name endpoint-runbook --display-name "endpoint-runbook" >/dev/null
command -v java >/dev/null || { echo "setup: Java 17 is not on PATH (TorchServe needs it): apt-get install openjdk-17-jre-headless" >&2; exit 1; }
