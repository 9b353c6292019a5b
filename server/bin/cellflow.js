#!/usr/bin/env node
// The `cellflow` command: the compiled CLI lives in lib/ (npm run build --workspace server).
import('../lib/server/src/cli/main.js')
  .then(m => m.main(process.argv))
  .catch(err => {
    process.stderr.write(
      `cellflow: ${err instanceof Error ? err.message : String(err)}\n`
    );
    process.exit(1);
  });
