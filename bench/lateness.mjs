// Start lateness of scheduled runs on a real Cellflow server (bench/cellflow-server.mjs): one flow of
// one no-op task on a 1-second interval schedule under one overlap policy. Shared by
// bench/schedule-lateness.mjs and bench/sandbox.mjs, so both measure the same way.
import { noopNotebook } from './lib.mjs';

const time = iso => Date.parse(iso);
const ENDS = ['Completed', 'Failed', 'Crashed', 'Cancelled', 'Skipped'];

/**
 * One flow on a 1-second schedule under one overlap policy: `runs` runs after `warmup` (the first
 * runs pay for the first kernel spawn and PGlite's cold queries; they are left out), each run's
 * scheduled time, release (Pending), start (Running) and first task start, and whether it went Late.
 * Returns the per-run differences in ms (lateness, release, runStart, taskStart) and the counts.
 */
export async function measure(
  server,
  overlap,
  maxConcurrent,
  { runs: RUNS, warmup: WARMUP, label = overlap }
) {
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
        console.log(`${label}: ${ended}/${wanted} runs ended`);
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

  const all = [];
  let cursor;
  do {
    const page = await server.api(
      'GET',
      `/api/runs?flowId=${flow.id}&limit=500${cursor ? `&cursor=${cursor}` : ''}`
    );
    all.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor);
  const measured = all
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
    throw new Error(`${label}: no scheduled run completed`);
  }
  return result;
}
