#!/usr/bin/env bash
# Start Cellflow: JupyterLab (from .venv) with the extension, and the Cellflow server on its embedded
# store. Prints the lab's URL with its token. Ctrl-C stops both, and with them their kernels.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

LAB_PORT="${CELLFLOW_LAB_PORT:-8888}"
SERVER_PORT="${CELLFLOW_SERVER_PORT:-8787}"
USERS_API_PORT="${CELLFLOW_USERS_API_PORT:-8765}"
DATA_DIR="${CELLFLOW_DATA_DIR:-$ROOT/.cellflow-data}"
NOTEBOOK_DIR="${CELLFLOW_NOTEBOOK_DIR:-$ROOT/examples}"
TOKEN="$(python -c 'import secrets; print(secrets.token_hex(24))')"
mkdir -p "$DATA_DIR" "$NOTEBOOK_DIR"

pids=()
stop() {
  trap - INT TERM EXIT
  echo "Stopping Cellflow..." >&2
  # TERM lets jupyter_server shut its kernels down and the Cellflow server close its store.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

# The server shares the lab's root dir, so a flow runs in its notebook's folder and the files it writes
# show up in the lab's file browser.
node server/bin/cellflow.js server --host 127.0.0.1 --port "$SERVER_PORT" --data-dir "$DATA_DIR" \
  --root-dir "$NOTEBOOK_DIR" &
pids+=($!)

# The tutorial's local users API (examples/etl.ipynb reads it).
python examples/users-api/server.py --host 127.0.0.1 --port "$USERS_API_PORT" &
pids+=($!)

jupyter lab --no-browser --allow-root --ServerApp.ip=127.0.0.1 --ServerApp.port="$LAB_PORT" \
  --ServerApp.port_retries=0 --ServerApp.root_dir="$NOTEBOOK_DIR" --IdentityProvider.token="$TOKEN" \
  </dev/null >"$DATA_DIR/lab.log" 2>&1 &
pids+=($!)

# Wait for the lab to answer before printing its address.
for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$LAB_PORT/api/status?token=$TOKEN" 2>/dev/null; then break; fi
  if ! kill -0 "${pids[2]}" 2>/dev/null; then echo "JupyterLab failed to start: see $DATA_DIR/lab.log" >&2; exit 1; fi
  sleep 0.5
done
# Log the panel and the CLI in to the local server: reuse a profile that already works there, else
# create a key for the workspace "local" and store it in the profile (shown once, below).
for _ in $(seq 1 120); do
  curl -fsS -o /dev/null "http://127.0.0.1:$SERVER_PORT/api/health" 2>/dev/null && break
  sleep 0.5
done
LOGIN_NOTE=""
if CELLFLOW_API_URL="http://127.0.0.1:$SERVER_PORT" node server/bin/cellflow.js runs --limit 1 >/dev/null 2>&1; then
  LOGIN_NOTE="The panel and the cellflow CLI use your existing profile for this server."
else
  KEY="$(node server/bin/cellflow.js keys create --workspace local --name "start.sh $(date +%F)" --data-dir "$DATA_DIR" 2>/dev/null | tail -n 1)"
  if [ -n "$KEY" ] && printf '%s\n' "$KEY" | node server/bin/cellflow.js login "http://127.0.0.1:$SERVER_PORT" >/dev/null; then
    LOGIN_NOTE="New API key for workspace \"local\" (shown once): $KEY
    The panel and the cellflow CLI are logged in with it (profile: ~/.config/cellflow/profile.json, owner-only)."
  else
    LOGIN_NOTE="Could not create an API key: run 'npx cellflow keys create --workspace local --name me --data-dir $DATA_DIR'."
  fi
fi

cat <<MSG

  Cellflow is running.
    JupyterLab:      http://127.0.0.1:$LAB_PORT/lab/tree/etl.ipynb?token=$TOKEN
    Cellflow server: http://127.0.0.1:$SERVER_PORT  (data in $DATA_DIR)
    Users API:       http://127.0.0.1:$USERS_API_PORT/users  (the tutorial's data)
    Lab log:         $DATA_DIR/lab.log
  $LOGIN_NOTE
  Press Ctrl-C to stop them all.

MSG
wait -n "${pids[@]}" || true
