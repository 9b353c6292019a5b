#!/usr/bin/env bash
# Run every Cellflow test suite: lint, unit + server (vitest), the lab's server extension (pytest), the
# HTTP API fuzz (Schemathesis against a live server), UI (galata in chromium, against the lab from
# .venv), and the wheel install check. Ends with one line
# "N passed, N failed" summed over all suites, and exits non-zero when any suite failed or when no test ran.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" || { echo "0 passed, 1 failed"; exit 1; }
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

RESULTS="$ROOT/.test-results"
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
banner() { printf '\n\033[1m=== %s ===\033[0m\n' "$*"; }
status=0

banner "lint (eslint, prettier, stylelint)"
if npm run --silent lint; then echo '{"passed":1,"failed":0}' >"$RESULTS/lint.json"
else echo '{"passed":0,"failed":1}' >"$RESULTS/lint.json"; status=1; fi

banner "unit and server tests (vitest)"
npx vitest run --reporter=default --reporter=json --outputFile.json="$RESULTS/vitest.json" || status=1

banner "lab server extension tests (pytest, jupyterlab_cellflow/tests)"
# pytest writes JUnit XML; one that stopped before writing it (a broken conftest) counts as one failure.
.venv/bin/python -m pytest jupyterlab_cellflow/tests -q --junitxml="$RESULTS/pytest.xml" || {
  status=1
  [ -s "$RESULTS/pytest.xml" ] || { rm -f "$RESULTS/pytest.xml"; echo '{"passed":0,"failed":1}' >"$RESULTS/pytest.json"; }
}

banner "API fuzz (Schemathesis, every route of the OpenAPI document, a live server)"
# Writes JUnit XML; a script that stopped before writing it (no server, no key) counts as one failure.
bash scripts/test-api-fuzz.sh "$RESULTS" || {
  status=1
  [ -s "$RESULTS/schemathesis.xml" ] || { rm -f "$RESULTS/schemathesis.xml"; echo '{"passed":0,"failed":1}' >"$RESULTS/schemathesis.json"; }
}

banner "UI tests (galata, JupyterLab from .venv, Debian chromium)"
(cd ui-tests && CELLFLOW_PW_REPORT="$RESULTS/ui.json" npx playwright test) || status=1

banner "chaos suite, short (bench/chaos.mjs --short: kill -9, PostgreSQL outage, two servers, kernel death, full disk)"
node bench/chaos.mjs --short --json "$RESULTS/chaos.json" || {
  status=1
  [ -s "$RESULTS/chaos.json" ] || echo '{"passed":0,"failed":1}' >"$RESULTS/chaos.json"
}

banner "wheel: built with the server, installed into a new venv beside jupyterlab, run with no node on PATH: the cellflow CLI, the lab on its local server"
bash scripts/test-wheel.sh "$RESULTS/wheel.json" || status=1

banner "summary"
node scripts/summarize-results.mjs "$RESULTS" || status=1
exit $status
