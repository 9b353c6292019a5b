#!/usr/bin/env bash
# Runs a command with DATABASE_URL set to a throwaway PostgreSQL cluster (loopback, fsync off), then
# stops and deletes the cluster, keeping the command's exit status.
#   scripts/postgres-test.sh npx vitest run server/test/some.spec.ts
#   scripts/postgres-test.sh node server/bin/cellflow.js server
# As root, the server runs as the `postgres` user (PostgreSQL refuses root).
set -euo pipefail

bin=${CELLFLOW_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "postgres-test: PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/<version>/bin;" \
    "install them with 'apt-get install -y postgresql' or set CELLFLOW_PG_BIN" >&2
  exit 1
fi
if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cellflow-pg-XXXXXX")
as=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
  as=(runuser -u postgres --)
fi
cleanup() {
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
if ! "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -o "-p $port -h 127.0.0.1 -k $dir -F" -l "$dir/server.log" -w start >/dev/null; then
  cat "$dir/server.log" >&2
  exit 1
fi

export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
"$@"
