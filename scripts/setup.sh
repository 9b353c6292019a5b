#!/usr/bin/env bash
# Make this checkout ready to start and test Cellflow, installing only what is missing:
# Debian packages (chromium, postgresql), the project's .venv (requirements-dev.txt), npm packages
# (npm ci for the root workspace and ui-tests), the built extension and server, and the extension's
# development install into .venv. Re-running it on a ready machine takes seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# A stamp records the hash of the file an install came from, so a changed lock file re-installs.
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$(sha256sum "$2" | cut -d' ' -f1)" ]; }
stamp_write() { sha256sum "$2" | cut -d' ' -f1 >"$1"; }

# --- Debian packages: the browser for UI tests, PostgreSQL for the store tests, bubblewrap for kernels ---
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# bubblewrap is the sandbox local kernels run in (the server's default isolation on Linux)
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
if [ "${#need_apt[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- The project's Python environment ---
PYTHON="${CELLFLOW_PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
if ! stamp_ok .venv/.cellflow-requirements requirements-dev.txt; then
  log "installing requirements-dev.txt into .venv"
  .venv/bin/pip install -q -r requirements-dev.txt
  stamp_write .venv/.cellflow-requirements requirements-dev.txt
fi
export PATH="$ROOT/.venv/bin:$PATH"

# --- Jupyter Enterprise Gateway, for the gateway kernel provider's tests and benchmark ---
# An environment of its own: it pins jupyter_server<2 and jupyter_client 6 (requirements-gateway.txt).
if [ ! -x .venv-gateway/bin/python ]; then
  log "creating .venv-gateway (Jupyter Enterprise Gateway)"
  "$PYTHON" -m venv .venv-gateway
fi
if ! stamp_ok .venv-gateway/.cellflow-requirements requirements-gateway.txt; then
  log "installing requirements-gateway.txt into .venv-gateway"
  .venv-gateway/bin/pip install -q -r requirements-gateway.txt
  stamp_write .venv-gateway/.cellflow-requirements requirements-gateway.txt
fi

# --- npm packages (the browser is Debian's: never download one) ---
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if ! stamp_ok node_modules/.cellflow-lock package-lock.json; then
  log "npm ci (extension and server)"
  npm ci --no-audit --no-fund --loglevel=error
  stamp_write node_modules/.cellflow-lock package-lock.json
fi
if ! stamp_ok ui-tests/node_modules/.cellflow-lock ui-tests/package-lock.json; then
  log "npm ci (ui-tests)"
  (cd ui-tests && npm ci --no-audit --no-fund --loglevel=error)
  stamp_write ui-tests/node_modules/.cellflow-lock ui-tests/package-lock.json
fi

# --- Build: the extension (tsc + jupyter-builder) and the server ---
log "building the extension and the server"
npm run --silent build:lib
jupyter-builder build --development True . >/dev/null
npm run --silent build:server

# --- Development install of the extension into .venv ---
if ! .venv/bin/python -c 'import jupyterlab_cellflow' >/dev/null 2>&1; then
  log "pip install -e . (development mode)"
  .venv/bin/pip install -q --no-build-isolation --no-deps -e .
fi
if [ ! -L .venv/share/jupyter/labextensions/jupyterlab-cellflow ]; then
  jupyter-builder develop --overwrite . >/dev/null
fi
# The server extension that keeps the API key out of the browser (a wheel install enables it by itself).
# The editable install does not place shared data, so put its config file where the wheel puts it.
server_config=.venv/etc/jupyter/jupyter_server_config.d/jupyterlab_cellflow.json
if ! cmp -s jupyter-config/server-config/jupyterlab_cellflow.json "$server_config"; then
  mkdir -p "$(dirname "$server_config")"
  cp jupyter-config/server-config/jupyterlab_cellflow.json "$server_config"
fi
log "ready"
