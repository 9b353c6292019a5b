// Per-task orchestration overhead of Cellflow's run loop on a warm kernel, and 100 no-op tasks cold,
// beside nbclient running the same cells, measured in one run. Rewrites its table in bench/README.md.
//
//   node bench/overhead.mjs [--tasks 100] [--rounds 10]      (after `npm run build:server`)
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';

import { compileNotebook } from '../server/lib/src/flow/compiler.js';
import { runFlow } from '../server/lib/src/flow/runner.js';
import { startKernel } from '../server/lib/server/src/executor/index.js';
import {
  ensurePeersVenv,
  PEER_REQUIREMENTS,
  machine,
  ms,
  noopNotebook,
  summary,
  writeReadmeSection
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '10' }
  }
});
const TASKS = Number(values.tasks);
const ROUNDS = Number(values.rounds);

const compiled = compileNotebook(noopNotebook(TASKS), { name: 'noop' });
if (!compiled.ok) {
  throw new Error(JSON.stringify(compiled.problems));
}
const spec = compiled.spec;

async function timed(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

// Warm kernel: the kernel's own round trip (execute `pass`, reply + idle), then the same work as tasks.
const kernel = await startKernel();
for (let i = 0; i < 20; i++) {
  await kernel.execute('pass');
}
const raw = [];
const perTask = [];
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < TASKS; i++) {
    raw.push(await timed(() => kernel.execute('pass')));
  }
  // Per task: the time between consecutive task starts, i.e. everything the loop does per task.
  const starts = [];
  await runFlow(spec, kernel, {
    onEvent: event => {
      if (event.type === 'task-state' && event.state === 'Running') {
        starts.push(performance.now());
      }
    }
  });
  for (let i = 1; i < starts.length; i++) {
    perTask.push(starts[i] - starts[i - 1]);
  }
}
await kernel.shutdown();

// Cold: kernel start, the whole flow, kernel stop.
const cold = [];
for (let round = 0; round < Math.min(ROUNDS, 5); round++) {
  cold.push(
    await timed(async () => {
      const k = await startKernel();
      await runFlow(spec, k);
      await k.shutdown();
    })
  );
}

// The peer, in its own environment.
const python = ensurePeersVenv(PEER_REQUIREMENTS);
const peer = JSON.parse(
  execFileSync(
    python,
    [
      new URL('./peers/nbclient_noop.py', import.meta.url).pathname,
      String(TASKS),
      String(Math.min(ROUNDS, 5))
    ],
    {
      encoding: 'utf8'
    }
  )
);

const rawS = summary(raw);
const taskS = summary(perTask);
const coldS = summary(cold);
const nbWarm = summary(peer.warm_cell_ms);
const nbCold = summary(peer.cold_ms);
const overhead = taskS.median - rawS.median;
const rows = [
  [
    'Kernel round trip, no-op execute (warm)',
    ms(rawS.median),
    ms(rawS.p99),
    '—',
    '—'
  ],
  [
    'Per task in a flow (warm kernel)',
    ms(taskS.median),
    ms(taskS.p99),
    ms(nbWarm.median),
    ms(nbWarm.p99)
  ],
  [
    'Orchestration overhead per task (per task − round trip)',
    ms(overhead),
    '',
    ms(nbWarm.median - rawS.median),
    ''
  ],
  [
    `${TASKS} no-op tasks, cold (kernel start + run + stop)`,
    ms(coldS.median),
    ms(coldS.max) + ' (max)',
    ms(nbCold.median),
    ms(nbCold.max) + ' (max)'
  ]
];
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; ${TASKS} tasks × ${ROUNDS} rounds.`,
  `Command: \`npm run build:server && node bench/overhead.mjs --tasks ${TASKS} --rounds ${ROUNDS}\``,
  '',
  '| Figure | Cellflow median | Cellflow p99 | nbclient 0.11 median | nbclient p99 |',
  '|---|---|---|---|---|',
  ...rows.map(r => `| ${r.join(' | ')} |`),
  '',
  `Ratio, ${TASKS} tasks cold: Cellflow / nbclient = ${(coldS.median / nbCold.median).toFixed(2)}.`
].join('\n');
writeReadmeSection('overhead', table);
console.log(table);
