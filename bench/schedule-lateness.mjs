// Start lateness of scheduled runs: a one-task no-op flow on a 1-second interval schedule on a real
// Cellflow server; for each run, its scheduled time to its first task starting, under the overlap
// policy `parallel` (up to 4 runs at once) and the default `queue` (one at a time). Rewrites its table
// in bench/README.md.
//
//   npm run build:server && node bench/schedule-lateness.mjs [--runs 120] [--warmup 3]
import { parseArgs } from 'node:util';

import { startServer } from './cellflow-server.mjs';
import { measure } from './lateness.mjs';
import { machine, ms, summary, writeReadmeSection } from './lib.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '120' },
    warmup: { type: 'string', default: '3' }
  }
});
const RUNS = Number(values.runs);
// The first runs pay for the first kernel spawn and PGlite's cold queries; they are left out.
const WARMUP = Number(values.warmup);

const cell = values => {
  const s = summary(values);
  return `${ms(s.median)} / ${ms(s.p99)}`;
};

const server = await startServer();
try {
  // parallel: each tick's run starts at its time while fewer than 4 are active (the server's
  // default --max-concurrent-runs); queue, the default policy: one run of the flow at a time.
  const results = [
    await measure(server, 'parallel', 4, { runs: RUNS, warmup: WARMUP }),
    await measure(server, 'queue', null, { runs: RUNS, warmup: WARMUP })
  ];
  const header = results.map(
    r =>
      `overlap \`${r.overlap}\`${r.maxConcurrent ? ` (max ${r.maxConcurrent})` : ' (default, 1 at a time)'}: p50 / p99`
  );
  const rows = [
    ['**Start lateness: scheduled time → first task Running**', 'lateness'],
    ['scheduled time → run released (Pending)', 'release'],
    ['Pending → run Running (claimed)', 'runStart'],
    ['run Running → first task Running (kernel start, parameters)', 'taskStart']
  ].map(
    ([label, key]) =>
      `| ${label} | ${results.map(r => cell(r[key])).join(' | ')} |`
  );
  const counts = [
    [
      'Runs measured (after warm-up) / wall time',
      r => `${r.runs} / ${r.elapsedS.toFixed(0)} s`
    ],
    [
      'Runs that went Late (not started 15 s after their time)',
      r => String(r.late)
    ],
    ['Runs Skipped', r => String(r.skipped)],
    ['Runs ended otherwise than Completed', r => String(r.failed)]
  ].map(([label, f]) => `| ${label} | ${results.map(f).join(' | ')} |`);
  const table = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; a 1-second interval schedule of a one-task ` +
      `no-op flow, ${RUNS} runs after ${WARMUP} warm-up runs per overlap policy, a kernel per run, embedded store.`,
    'Command: `npm run build:server && node bench/schedule-lateness.mjs' +
      ` --runs ${RUNS} --warmup ${WARMUP}\``,
    '',
    `| From → to | ${header.join(' | ')} |`,
    `|---|${results.map(() => '---').join('|')}|`,
    ...rows,
    ...counts
  ].join('\n');
  console.log(table);
  writeReadmeSection('schedule-lateness', table);
} finally {
  await server.close();
}
