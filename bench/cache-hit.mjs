// The cost of a task cache hit beside running the task, for a task that takes 1 s (time.sleep(1)) and
// sets a small list: the run loop on a warm real ipykernel with the server's store (PGlite) behind the
// cache, so a hit includes the store lookup, the restore in the kernel and the outputs shown again.
// Rewrites its table in bench/README.md.
//
//   node bench/cache-hit.mjs [--rounds 10]      (after `npm run build:server`)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { compileNotebook } from '../server/lib/src/flow/compiler.js';
import { runFlow } from '../server/lib/src/flow/runner.js';
import { startKernel } from '../server/lib/server/src/executor/index.js';
import { workspaceTaskCache } from '../server/lib/server/src/runs/task-cache-store.js';
import { openPgliteStore } from '../server/lib/server/src/store/index.js';
import { machine, ms, summary, writeReadmeSection } from './lib.mjs';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '10' } }
});
const ROUNDS = Number(values.rounds);

const cell = source => ({
  cell_type: 'code',
  id: `c${Math.random().toString(36).slice(2, 10)}`,
  metadata: {},
  source,
  outputs: [],
  execution_count: null
});
const notebook = cached => ({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: 'python3', language: 'python' } },
  cells: [
    cell(
      `%%task extract${cached ? ' --cache-for 1h' : ''}\n` +
        'import time\ntime.sleep(1)\nrows = list(range(1000))\nprint("extracted", len(rows))'
    )
  ]
});
const specOf = cached => {
  const compiled = compileNotebook(notebook(cached), { name: 'bench-cache' });
  if (!compiled.ok) {
    throw new Error(JSON.stringify(compiled.problems));
  }
  return compiled.spec;
};

const dir = mkdtempSync(join(tmpdir(), 'cellflow-bench-cache-'));
const store = await openPgliteStore(join(dir, 'data'));
const workspace = await store.ensureWorkspace('bench');
const cache = workspaceTaskCache(store, workspace.id, 256 * 1024 * 1024);
const kernel = await startKernel();
for (let i = 0; i < 20; i++) {
  await kernel.execute('pass');
}

/** The task's time from Running to Completed, as the run loop reports it. */
async function taskMs(spec, options) {
  let running = 0;
  let completed = 0;
  let cachedFrom;
  const result = await runFlow(spec, kernel, {
    ...options,
    onEvent: event => {
      if (event.type === 'task-state' && event.state === 'Running') {
        running = performance.now();
      }
      if (event.type === 'task-state' && event.state === 'Completed') {
        completed = performance.now();
        cachedFrom = event.cachedFrom;
      }
    }
  });
  if (result.state !== 'Completed') {
    throw new Error(`the bench flow ended ${result.state}`);
  }
  return { ms: completed - running, cachedFrom };
}

const plain = [];
const miss = [];
const hit = [];
const uncachedSpec = specOf(false);
const cachedSpec = specOf(true);
for (let round = 0; round < ROUNDS; round++) {
  plain.push((await taskMs(uncachedSpec, {})).ms);
  // Refresh: the task runs, then its variables are snapshotted and stored (a miss's full cost).
  const stored = await taskMs(cachedSpec, {
    cache: { store: cache, runId: `refresh-${round}`, refresh: true }
  });
  if (stored.cachedFrom) {
    throw new Error('a refresh run was served from the cache');
  }
  miss.push(stored.ms);
  const served = await taskMs(cachedSpec, {
    cache: { store: cache, runId: `hit-${round}` }
  });
  if (served.cachedFrom !== `refresh-${round}`) {
    throw new Error(
      `expected a hit from refresh-${round}, got ${served.cachedFrom}`
    );
  }
  hit.push(served.ms);
}
await kernel.kill();
await store.close();
rmSync(dir, { recursive: true, force: true });

const p = summary(plain);
const m = summary(miss);
const h = summary(hit);
const row = (name, s) =>
  `| ${name.padEnd(58)} | ${ms(s.median).padEnd(10)} | ${ms(s.p99).padEnd(10)} |`;
const table = `
Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; ${ROUNDS} rounds, one warm kernel, PGlite store.
Command: \`npm run build:server && node bench/cache-hit.mjs --rounds ${ROUNDS}\`

| Task of 1 s (\`time.sleep(1)\`, sets a 1,000-item list), Running → Completed | median     | p99        |
| ---------------------------------------------------------- | ---------- | ---------- |
${row('Run, no cache', p)}
${row('Miss: run, then snapshot and store (--refresh-cache)', m)}
${row('Hit: lookup, restore in the kernel, outputs shown again', h)}

A hit costs ${((h.median / p.median) * 100).toFixed(1)} % of running the task (median); storing a result adds ${ms(m.median - p.median)} to a run.
`;
writeReadmeSection('cache-hit', table);
console.log(table);
