// Start lateness of scheduled runs: a one-task no-op flow on a 1-second interval schedule on a real
// Cellflow server; for each run, its scheduled time to its first task starting, under the overlap
// policy `parallel` (up to 4 runs at once) and the default `queue` (one at a time). Rewrites its table
// in bench/README.md.
//
//   npm run build:server && node bench/schedule-lateness.mjs [--runs 120] [--warmup 3]
import { parseArgs } from 'node:util';

import { startServer } from './cellflow-server.mjs';
import {
  machine,
  ms,
  noopNotebook,
  summary,
  writeReadmeSection
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '120' },
    warmup: { type: 'string', default: '3' }
  }
});
const RUNS = Number(values.runs);
// The first runs pay for the first kernel spawn and PGlite's cold queries; they are left out.
const WARMUP = Number(values.warmup);

const time = iso => Date.parse(iso);
const ENDS = ['Completed', 'Failed', 'Crashed', 'Cancelled', 'Skipped'];

/**
 * One flow on a 1-second schedule under one overlap policy: RUNS runs after WARMUP, each run's
 * scheduled time, release (Pending), start (Running) and first task start, and whether it went Late.
 */
async function measure(server, overlap, maxConcurrent) {
  const { flow } = await server.api('POST', '/api/flows', {
    name: `lateness-${overlap}`,
    notebook: noopNotebook(1)
  });
  await server.api('PATCH', `/api/flows/${flow.id}/overlap`, {
    overlap,
    maxConcurrent
  });
  // Per run, from the event stream (which replays from the first event, so nothing is missed).
  const seen = new Map();
  const of = id => {
    if (!seen.has(id)) {
      seen.set(id, { late: false });
    }
    return seen.get(id);
  };
  let ended = 0;
  const wanted = WARMUP + RUNS;
  const started = Date.now();
  const streamed = server.events(flow.id, event => {
    if (event.type !== 'flow_run.state' || !event.flowRunId) {
      return false;
    }
    const run = of(event.flowRunId);
    const to = event.payload.to;
    if (to === 'Late') {
      run.late = true;
    } else if (to === 'Pending') {
      run.pendingAt = time(event.at);
    } else if (to === 'Running') {
      run.runningAt = time(event.at);
    } else if (ENDS.includes(to)) {
      run.end = to;
      ended++;
      if (ended % 20 === 0) {
        console.log(`${overlap}: ${ended}/${wanted} runs ended`);
      }
    }
    return ended >= wanted;
  });
  const { schedule } = await server.api(
    'POST',
    `/api/flows/${flow.id}/schedules`,
    { kind: 'interval', every: 1 }
  );
  await streamed;
  const elapsedS = (Date.now() - started) / 1000;
  // Stop planning before reading: the runs measured are the ones that ended.
  await server.api('PATCH', `/api/schedules/${schedule.id}`, { paused: true });

  const runs = [];
  let cursor;
  do {
    const page = await server.api(
      'GET',
      `/api/runs?flowId=${flow.id}&limit=500${cursor ? `&cursor=${cursor}` : ''}`
    );
    runs.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor);
  const measured = runs
    .filter(run => seen.get(run.id)?.end && run.scheduledAt)
    .sort((a, b) => time(a.scheduledAt) - time(b.scheduledAt))
    .slice(WARMUP);

  const result = {
    overlap,
    maxConcurrent,
    elapsedS,
    runs: measured.length,
    lateness: [],
    release: [],
    runStart: [],
    taskStart: [],
    late: 0,
    skipped: 0,
    failed: 0
  };
  for (const run of measured) {
    const events = seen.get(run.id);
    result.late += events.late ? 1 : 0;
    if (events.end === 'Skipped') {
      result.skipped++;
      continue;
    }
    if (events.end !== 'Completed') {
      result.failed++;
      continue;
    }
    const { run: detail } = await server.api('GET', `/api/runs/${run.id}`);
    const first = time(detail.taskRuns[0].attempts[0].startedAt);
    const scheduledAt = time(run.scheduledAt);
    result.lateness.push(first - scheduledAt);
    result.release.push(events.pendingAt - scheduledAt);
    result.runStart.push(events.runningAt - events.pendingAt);
    result.taskStart.push(first - events.runningAt);
  }
  if (result.lateness.length === 0) {
    throw new Error(`overlap ${overlap}: no scheduled run completed`);
  }
  return result;
}

const cell = values => {
  const s = summary(values);
  return `${ms(s.median)} / ${ms(s.p99)}`;
};

const server = await startServer();
try {
  // parallel: each tick's run starts at its time while fewer than 4 are active (the server's
  // default --max-concurrent-runs); queue, the default policy: one run of the flow at a time.
  const results = [
    await measure(server, 'parallel', 4),
    await measure(server, 'queue', null)
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
