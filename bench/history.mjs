// Histories that grow (issue 16): the list endpoints with 100,000 runs and 1,000,000 log lines beside
// the same server with 1,000 runs and 20,000 lines, measured in one run. Each history is written into a
// new embedded store (PGlite, the default) with one SQL statement per table, then `cellflow server`
// opens it and each route is asked 40 times in a row (after 5 unmeasured); the table gives p50 / p99
// and the large history's p50 over the small one's. Needs `npm run build:server` first; run it alone.
//
//   node bench/history.mjs [--no-readme]
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startServer } from './cellflow-server.mjs';
import {
  machine,
  noopNotebook,
  ROOT,
  summary,
  writeReadmeSection
} from './lib.mjs';

const { openPgliteStore } = await import(
  join(ROOT, 'server', 'lib', 'server', 'src', 'store', 'index.js')
);
const writeReadme = !process.argv.includes('--no-readme');
const ROUNDS = 40;
const WARMUP = 5;

const SIZES = [
  { label: 'small', runs: 1_000, lines: 20_000, bigRunLines: 10_000 },
  { label: 'large', runs: 100_000, lines: 1_000_000, bigRunLines: 100_000 }
];

/**
 * Writes `runs` runs of two flows (every 50th Failed, the rest Completed) and `lines` log lines: the
 * newest run gets `bigRunLines` of them, the rest are 100 per run from the oldest on.
 */
async function seed(dataDir, workspaceId, flowIds, size) {
  const store = await openPgliteStore(dataDir);
  const q = text => store.queryRows(text);
  const started = performance.now();
  try {
    await q(`
      INSERT INTO flow_runs (id, workspace_id, flow_id, flow_version, state, trigger,
                             started_at, ended_at, created_at)
      SELECT 'hist-' || g, '${workspaceId}',
             CASE WHEN g % 2 = 0 THEN '${flowIds[0]}' ELSE '${flowIds[1]}' END, 1,
             CASE WHEN g % 50 = 0 THEN 'Failed' ELSE 'Completed' END, 'scheduled',
             now() - ((${size.runs} - g) * interval '10 seconds'),
             now() - ((${size.runs} - g) * interval '10 seconds') + interval '2 seconds',
             now() - ((${size.runs} - g) * interval '10 seconds')
      FROM generate_series(1, ${size.runs}) g`);
    const spread = size.lines - size.bigRunLines;
    await q(`
      INSERT INTO log_lines (flow_run_id, task_name, attempt, stream, text)
      SELECT 'hist-' || (1 + g / 100), 'extract', 1, 'stdout', 'fetched row ' || g
      FROM generate_series(0, ${spread - 1}) g`);
    await q(`
      INSERT INTO log_lines (flow_run_id, task_name, attempt, stream, text)
      SELECT 'hist-${size.runs}', 'extract', 1, 'stdout', 'big run line ' || g
      FROM generate_series(0, ${size.bigRunLines - 1}) g`);
    await q('ANALYZE');
  } finally {
    await store.close();
  }
  return (performance.now() - started) / 1000;
}

async function time(call) {
  for (let i = 0; i < WARMUP; i++) {
    await call();
  }
  const ms = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await call();
    ms.push(performance.now() - t);
  }
  return summary(ms);
}

async function measure(size) {
  const parent = mkdtempSync(join(tmpdir(), 'cellflow-bench-history-'));
  const dataDir = join(parent, 'data');
  // First start: the workspace, a key and two flows, through the API as a user makes them.
  let server = await startServer(['--warm-kernels', '0'], { dataDir });
  const flows = [];
  for (const name of ['alpha', 'beta']) {
    const { flow } = await server.api('POST', '/api/flows', {
      name,
      notebook: noopNotebook(1)
    });
    flows.push(flow);
  }
  const { workspace } = await server.api('GET', '/api/me');
  await server.close();
  const seedS = await seed(
    dataDir,
    workspace.id,
    flows.map(f => f.id),
    size
  );
  server = await startServer(['--warm-kernels', '0'], { dataDir });
  const { api } = server;
  try {
    const big = `hist-${size.runs}`;
    // A cursor 10 pages of 50 deep, from following nextCursor as a client pages.
    let cursor;
    for (let page = 0; page < 10; page++) {
      cursor = (
        await api(
          'GET',
          `/api/runs?limit=50${cursor ? `&cursor=${cursor}` : ''}`
        )
      ).nextCursor;
    }
    const lines = await api('GET', `/api/runs/${big}/logs?limit=5000`);
    const middle = lines.lines[lines.lines.length - 1].id;
    const routes = [
      ['GET /api/runs (newest 50)', () => api('GET', '/api/runs?limit=50')],
      [
        'GET /api/runs?flowId= (newest 50 of one flow)',
        () => api('GET', `/api/runs?flowId=${flows[0].id}&limit=50`)
      ],
      [
        'GET /api/runs?state=Failed (newest 50 Failed)',
        () => api('GET', '/api/runs?state=Failed&limit=50')
      ],
      [
        'GET /api/runs?cursor= (page 11, by cursor)',
        () => api('GET', `/api/runs?limit=50&cursor=${cursor}`)
      ],
      ['GET /api/runs/:id', () => api('GET', `/api/runs/${big}`)],
      ['GET /api/flows', () => api('GET', '/api/flows')],
      [
        `GET /api/runs/:id/logs (first 1,000 of ${size.bigRunLines.toLocaleString('en')})`,
        () => api('GET', `/api/runs/${big}/logs?limit=1000`)
      ],
      [
        'GET /api/runs/:id/logs?after= (1,000 after line 5,000)',
        () => api('GET', `/api/runs/${big}/logs?limit=1000&after=${middle}`)
      ]
    ];
    const results = [];
    for (const [route, call] of routes) {
      results.push({ route, ...(await time(call)) });
    }
    return { size, seedS, startMs: server.startMs, results };
  } finally {
    await server.close();
    rmSync(parent, { recursive: true, force: true });
  }
}

const measured = [];
for (const size of SIZES) {
  const m = await measure(size);
  measured.push(m);
  console.log(
    `${size.runs} runs, ${size.lines} lines: seeded in ${m.seedS.toFixed(1)} s, server listening ${m.startMs.toFixed(0)} ms after spawn`
  );
  for (const r of m.results) {
    console.log(
      `  ${r.route}: p50 ${r.median.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms`
    );
  }
}

const [small, large] = measured;
const fmt = n => n.toLocaleString('en');
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; embedded store (PGlite), one client, ${ROUNDS} requests per route after ${WARMUP} unmeasured.`,
  'Command: `npm run build:server && node bench/history.mjs`.',
  '',
  `| Route | ${fmt(small.size.runs)} runs, ${fmt(small.size.lines)} lines: p50 / p99 | ${fmt(large.size.runs)} runs, ${fmt(large.size.lines)} lines: p50 / p99 | Large / small (p50) |`,
  '| --- | --- | --- | --- |',
  ...small.results.map((r, i) => {
    const l = large.results[i];
    return `| ${l.route} | ${r.median.toFixed(1)} / ${r.p99.toFixed(1)} ms | ${l.median.toFixed(1)} / ${l.p99.toFixed(1)} ms | ${(l.median / r.median).toFixed(2)}× |`;
  }),
  `| Server start on that store (spawn to listening) | ${small.startMs.toFixed(0)} ms | ${large.startMs.toFixed(0)} ms | ${(large.startMs / small.startMs).toFixed(2)}× |`
].join('\n');
console.log(`\n${table}`);
if (writeReadme) {
  writeReadmeSection('history', table);
}
