#!/usr/bin/env bash
# Set up (idempotently) the project's virtual environment with the local stack and the test tools, and
# register its own Jupyter kernel so papermill runs the notebooks in it (not in some kernel without the project).
# Says what it does in a few lines; pip's own output goes to .venv/setup.log (shown only when something fails).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOG=.venv/setup.log
started=$SECONDS

say() { echo "setup: $*"; }
fail() {
  echo "setup: $1" >&2
  [ -f "$LOG" ] && { echo "--- last lines of $LOG ---" >&2; tail -n 25 "$LOG" >&2; }
  exit 1
}

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$PY" -V 2>&1)"
  "$PY" -m venv .venv || fail "could not create .venv with $PY (set PYTHON=/path/to/python3.11)"
fi
: > "$LOG"
if .venv/bin/python -c "import endpoint_runbook, moto, torch" 2>/dev/null; then
  say "updating .venv (the runbook and its extras are installed; under a minute)"
else
  say "installing into .venv: the runbook (boto3, papermill, ipywidgets), the local stack (moto server, the"
  say "  SageMaker PyTorch inference toolkit, TorchServe, torch $(sed -n 's/.*"torch==\([0-9.]*\)".*/\1/p' pyproject.toml) CPU)"
  say "  and the test tools (pytest, hypothesis, ruff, faiss-cpu). The first time takes about 5 minutes on"
  say "  2 cores with pip's cache warm, longer without (torch is the bulk); later runs take under a minute."
  say "  pip's output: $LOG"
fi
.venv/bin/python -m pip install --disable-pip-version-check -q --upgrade "pip>=23" >>"$LOG" 2>&1 \
  || fail "upgrading pip failed"
.venv/bin/python -m pip install --disable-pip-version-check -q -e ".[local,dev]" >>"$LOG" 2>&1 \
  || fail "pip install -e '.[local,dev]' failed"
.venv/bin/python -c "import endpoint_runbook, moto, torch" >>"$LOG" 2>&1 \
  || fail "the install did not complete: endpoint_runbook, moto or torch does not import"
.venv/bin/python -m ipykernel install --sys-prefix --name endpoint-runbook --display-name "endpoint-runbook" \
  >>"$LOG" 2>&1 || fail "registering the Jupyter kernel 'endpoint-runbook' failed"
command -v java >/dev/null || fail "Java 17 is not on PATH (TorchServe needs it): apt-get install openjdk-17-jre-headless"
say "ready in $((SECONDS - started)) s: kernel 'endpoint-runbook' registered, $(java -version 2>&1 | head -n 1)."
say "the first local stack start (or load check) also builds the cached model-serving environment (torch +"
say "  TorchServe, as the SageMaker image has them): a few minutes, once per machine."
