// The chaos suite: faults against real `cellflow server` processes (children of this script, default
// --isolation) running flows on 1-second interval schedules, then an invariant checker over what the
// API reports afterwards. See docs/reliability.md for the scenarios, the invariants and the figures.
//
//   npm run build:server && node bench/chaos.mjs [--short] [--store pglite|postgres|both] [--kills N]
//     [--json FILE]
//
// --json writes {"passed":P,"failed":F}, one per invariant per scenario (the test command's form).
// Without --short (and without --only) the table is written into docs/reliability.md. CELLFLOW_CLI runs another build of
// the server (default: this tree's server/bin/cellflow.js).
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync
} from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

import { findPostgresBin, startPostgres } from './chaos-postgres.mjs';
import { machine, noopNotebook, ROOT, summary } from './lib.mjs';

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    store: { type: 'string', default: 'both' },
    kills: { type: 'string' },
    json: { type: 'string' },
    only: { type: 'string' }
  }
});
const SHORT = values.short;
const KILLS = Number(values.kills ?? (SHORT ? 3 : 20));
if (!['pglite', 'postgres', 'both'].includes(values.store)) {
  throw new Error(
    `--store must be pglite, postgres or both, got ${values.store}`
  );
}
const STORES =
  values.store === 'both' ? ['pglite', 'postgres'] : [values.store];
const CLI =
  process.env.CELLFLOW_CLI ?? join(ROOT, 'server', 'bin', 'cellflow.js');
const CLI_ROOT = dirname(dirname(dirname(CLI)));
const VENV = join(ROOT, '.venv');
const ENV = {
  ...process.env,
  VIRTUAL_ENV: VENV,
  PATH: `${join(VENV, 'bin')}:${process.env.PATH}`
};
// Data dirs outside /tmp: a sandboxed kernel gets a private /tmp.
const WORK = mkdtempSync('/var/tmp/cellflow-chaos-');
// The PostgreSQL clusters in it run as the `postgres` user.
chmodSync(WORK, 0o755);

// A run left Running by a dead server: on the embedded store the restarted server crashes it at start;
// on PostgreSQL the servers crash it once its lease ran out (main: 60 s, `--lease` where the build has
// it: 15 s by default), swept every 5 s. The bound the checker holds crash detection to:
const HELP = execFileSync(process.execPath, [CLI, 'server', '--help'], {
  encoding: 'utf8'
});
const LEASE_S = /--lease/.test(HELP) ? 15 : 60;
const CRASH_BOUND_S = { pglite: 10, postgres: LEASE_S + 10 };
const SETTLE_S = LEASE_S + 20;

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const time = iso => Date.parse(iso);
const log = (...args) =>
  console.log(`[chaos ${new Date().toISOString().slice(11, 19)}]`, ...args);

/** Polls `condition` (a truthy answer ends the wait) every `everyMs` until `timeoutS`; null on timeout. */
async function until(condition, timeoutS, everyMs = 200) {
  const end = Date.now() + timeoutS * 1000;
  for (;;) {
    let answer;
    try {
      answer = await condition();
    } catch {
      answer = undefined;
    }
    if (answer) {
      return answer;
    }
    if (Date.now() > end) {
      return null;
    }
    await sleep(everyMs);
  }
}

async function must(what, condition, timeoutS, everyMs) {
  const answer = await until(condition, timeoutS, everyMs);
  if (!answer) {
    throw new Error(`timed out after ${timeoutS} s waiting for ${what}`);
  }
  return answer;
}

// ---------------------------------------------------------------- servers

/** One `cellflow server` process on `dataDir` (and `databaseUrl`, for PostgreSQL). */
async function spawnServer(dataDir, databaseUrl) {
  mkdirSync(dataDir, { recursive: true });
  const env = { ...ENV };
  delete env.DATABASE_URL;
  if (databaseUrl) {
    env.DATABASE_URL = databaseUrl;
  }
  const spawnedAt = Date.now();
  const proc = spawn(
    process.execPath,
    [CLI, 'server', '--port', '0', '--data-dir', dataDir],
    { env, cwd: CLI_ROOT, stdio: ['ignore', 'pipe', 'pipe'] }
  );
  let stderr = '';
  proc.stderr.on('data', chunk => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const exited = new Promise(resolve =>
    proc.once('exit', (code, signal) => resolve({ code, signal }))
  );
  let out = '';
  const url = await new Promise((resolve, reject) => {
    proc.stdout.on('data', chunk => {
      out += chunk;
      const found = /listening on (http\S+)/.exec(out);
      if (found) {
        resolve(found[1]);
      }
    });
    void exited.then(({ code }) =>
      reject(new Error(`cellflow server exited (${code}) at start: ${stderr}`))
    );
  });
  return {
    proc,
    url,
    dataDir,
    exited,
    startS: (Date.now() - spawnedAt) / 1000,
    stderr: () => stderr,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        let timer;
        const ended = await Promise.race([
          exited,
          new Promise(resolve => (timer = setTimeout(resolve, 30_000)))
        ]);
        clearTimeout(timer);
        if (!ended) {
          proc.kill('SIGKILL');
          await exited;
        }
      }
    }
  };
}

function createKey(dataDir, databaseUrl) {
  const env = { ...ENV };
  if (databaseUrl) {
    env.DATABASE_URL = databaseUrl;
  }
  return execFileSync(
    process.execPath,
    [
      CLI,
      'keys',
      'create',
      '--workspace',
      'chaos',
      '--name',
      'chaos',
      '--data-dir',
      dataDir
    ],
    { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] }
  )
    .trim()
    .split('\n')
    .pop();
}

/** An API client whose server can be replaced (a restart listens on another port). */
function client(key) {
  const target = { url: '' };
  async function api(method, path, body) {
    const response = await fetch(target.url + path, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body ? { 'content-type': 'application/json' } : {})
      },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15_000)
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`${method} ${path}: ${response.status} ${text}`);
    }
    return text ? JSON.parse(text) : undefined;
  }
  api.target = target;
  api.health = async () => {
    const response = await fetch(`${target.url}/api/health`, {
      signal: AbortSignal.timeout(5000)
    });
    return response.ok;
  };
  return api;
}

async function listRuns(api, flowId, states) {
  const runs = [];
  let cursor;
  const state = (states ?? []).map(s => `&state=${s}`).join('');
  do {
    const page = await api(
      'GET',
      `/api/runs?flowId=${flowId}&limit=500${state}${cursor ? `&cursor=${cursor}` : ''}`
    );
    runs.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor);
  return runs;
}

/** A one-task flow (no-op unless `source` says) on a 1-second interval schedule, runs in parallel. */
async function scheduledFlow(api, name, source) {
  const notebook = noopNotebook(1);
  if (source) {
    notebook.cells[0].source = source;
  }
  const { flow } = await api('POST', '/api/flows', { name, notebook });
  // Parallel: a run left Running by a dead server (until it is crashed) does not hold the next ones up.
  await api('PATCH', `/api/flows/${flow.id}/overlap`, {
    overlap: 'parallel',
    maxConcurrent: 50
  });
  const { schedule } = await api('POST', `/api/flows/${flow.id}/schedules`, {
    kind: 'interval',
    every: 1
  });
  return { flowId: flow.id, scheduleId: schedule.id };
}

const ACTIVE = ['Running', 'Pending', 'Late'];

/**
 * Stops planning, then waits for every run to end. Runs that still wait are stuck only when nothing
 * moves: the wait ends once no run has ended for the settle time (lease + 20 s), or after `maxS` in
 * all. So a backlog that one server drains (a server alone cannot start 3 kernels a second on two
 * cores) is told apart from runs that are stuck; the "none stuck" invariant is checked afterwards.
 * Returns the backlog when planning stopped and how long it took to drain (null: it did not).
 */
async function settle(api, flows, timeoutS = SETTLE_S, maxS = 600) {
  for (const { scheduleId } of flows) {
    await api('PATCH', `/api/schedules/${scheduleId}`, { paused: true });
  }
  const pausedAt = Date.now();
  const active = async () => {
    const runs = [];
    for (const { flowId } of flows) {
      runs.push(...(await listRuns(api, flowId, ACTIVE)));
    }
    return runs;
  };
  const describe = runs =>
    ACTIVE.map(
      state => `${runs.filter(r => r.state === state).length} ${state}`
    ).join(', ');
  const first = await active();
  log(`settle: ${describe(first)} when planning stopped`);
  let fewest = first.length;
  let movedAt = Date.now();
  let loggedAt = Date.now();
  for (let runs = first; ;) {
    const seconds = (Date.now() - pausedAt) / 1000;
    if (runs.length === 0) {
      log(`settle: drained in ${seconds.toFixed(1)} s`);
      return { backlog: first.length, seconds };
    }
    if (runs.length < fewest) {
      fewest = runs.length;
      movedAt = Date.now();
    }
    if (Date.now() - movedAt > timeoutS * 1000 || seconds > maxS) {
      log(`settle: gave up after ${seconds.toFixed(0)} s: ${describe(runs)}`);
      return { backlog: first.length, seconds: null };
    }
    if (Date.now() - loggedAt >= 5000) {
      loggedAt = Date.now();
      log(`settle: +${seconds.toFixed(0)} s: ${describe(runs)}`);
    }
    await sleep(500);
    runs = await active().catch(() => runs);
  }
}

/** "a backlog of 83 runs when planning stopped, drained in 31 s", for a scenario's notes. */
function backlogNote({ backlog, seconds }) {
  return `a backlog of ${backlog} run(s) when planning stopped, ${
    seconds === null ? 'not drained' : `drained in ${seconds.toFixed(0)} s`
  }`;
}

/** Waits for a run of `flowId` to be Running that is not in `seen`; returns the Running ones. */
async function runningRuns(api, flowId, seen, timeoutS = 30) {
  return must(
    'a run to be Running',
    async () => {
      const running = await listRuns(api, flowId, ['Running']);
      return running.some(r => !seen.has(r.id)) ? running : null;
    },
    timeoutS,
    50
  );
}

// ---------------------------------------------------------------- invariants

/** The processes (ps -eo pid,ppid,stat,args). */
function processes() {
  return execFileSync('ps', ['-eo', 'pid=,ppid=,stat=,args='], {
    encoding: 'utf8'
  })
    .split('\n')
    .map(line => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line))
    .filter(Boolean)
    .map(([, pid, ppid, stat, args]) => ({
      pid: Number(pid),
      ppid: Number(ppid),
      zombie: stat.startsWith('Z'),
      args
    }));
}

/**
 * Kernels (ipykernel_launcher, bwrap) of this scenario still alive: the ones naming its folder, and
 * their descendants (a sandboxed kernel names only /run/cellflow-kernel).
 */
function leftKernels(dir) {
  const all = processes().filter(p => !p.zombie);
  const ours = new Set(all.filter(p => p.args.includes(dir)).map(p => p.pid));
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!ours.has(p.pid) && ours.has(p.ppid)) {
        ours.add(p.pid);
        grew = true;
      }
    }
  }
  return all.filter(
    p => ours.has(p.pid) && /ipykernel_launcher|bwrap/.test(p.args)
  );
}

/** How many kernels (ipykernel_launcher) descend from process `pid`. */
function kernelsUnder(pid) {
  const all = processes().filter(p => !p.zombie);
  const tree = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!tree.has(p.pid) && tree.has(p.ppid)) {
        tree.add(p.pid);
        grew = true;
      }
    }
  }
  return all.filter(p => tree.has(p.pid) && /ipykernel_launcher/.test(p.args))
    .length;
}

/**
 * The checks over what the API reports: no duplicate (schedule, time), none lost between the first and
 * the last planned time (a Skipped run is the missed-run policy's documented outcome), none stuck.
 */
async function checkRuns(api, flows) {
  const checks = [];
  let count = 0;
  const duplicates = [];
  const lost = [];
  const stuck = [];
  const states = {};
  const reasons = {};
  for (const { flowId, scheduleId } of flows) {
    const runs = await listRuns(api, flowId);
    count += runs.length;
    const ticks = new Map();
    for (const run of runs) {
      states[run.state] = (states[run.state] ?? 0) + 1;
      if (run.state === 'Crashed') {
        const why = (run.stateReason ?? run.error ?? '')
          .split('\n')[0]
          .slice(0, 90);
        reasons[why] = (reasons[why] ?? 0) + 1;
      }
      if (
        ACTIVE.includes(run.state) ||
        (run.state === 'Scheduled' && time(run.scheduledAt) < Date.now() - 5000)
      ) {
        stuck.push(`${run.id} ${run.state} (scheduled ${run.scheduledAt})`);
      }
      if (run.scheduleId !== scheduleId || !run.scheduledAt) {
        continue;
      }
      const at = time(run.scheduledAt);
      if (ticks.has(at)) {
        duplicates.push(`${run.scheduledAt}: ${ticks.get(at)} and ${run.id}`);
      }
      ticks.set(at, run.id);
    }
    const sorted = [...ticks.keys()].sort((a, b) => a - b);
    for (let at = sorted[0]; at < sorted[sorted.length - 1]; at += 1000) {
      if (!ticks.has(at)) {
        lost.push(new Date(at).toISOString());
      }
    }
  }
  const show = list =>
    list.length <= 3
      ? list.join('; ')
      : `${list.slice(0, 3).join('; ')}; … (${list.length})`;
  checks.push({
    name: 'no duplicate run per (schedule, time)',
    ok: duplicates.length === 0,
    detail: duplicates.length ? show(duplicates) : ''
  });
  checks.push({
    name: 'no scheduled time without a run',
    ok: lost.length === 0,
    detail: lost.length ? `missing: ${show(lost)}` : ''
  });
  checks.push({
    name: 'no run stuck Running/Pending after settling',
    ok: stuck.length === 0,
    detail: stuck.length ? show(stuck) : ''
  });
  return { checks, count, states, reasons };
}

/** Each run Running when its server was killed ends Crashed, within the bound; the latencies (s). */
async function checkCrashed(
  api,
  killed,
  boundS,
  { othersRunning = false } = {}
) {
  const latencies = [];
  const wrong = [];
  for (const { id, killAt } of killed) {
    const { run } = await api('GET', `/api/runs/${id}`);
    if (run.state === 'Crashed') {
      latencies.push((time(run.endedAt) - killAt) / 1000);
    } else if (othersRunning && run.state === 'Completed') {
      // Another server's run (two servers): it goes on.
    } else if (!(run.endedAt && time(run.endedAt) <= killAt + 50)) {
      // A run that ended just before the kill (between the look and the signal) is no crash to see.
      wrong.push(`${id} ended ${run.state} at ${run.endedAt}`);
    }
  }
  const late = latencies.filter(s => s > boundS);
  return {
    latencies,
    checks: [
      {
        name: `runs executing at the kill end Crashed within ${boundS} s`,
        ok:
          wrong.length === 0 &&
          late.length === 0 &&
          (othersRunning || latencies.length > 0),
        detail: [
          latencies.length === 0 ? 'no run was seen executing at a kill' : '',
          wrong.join('; '),
          late.length
            ? `${late.length} later than ${boundS} s (max ${Math.max(...late).toFixed(1)} s)`
            : ''
        ]
          .filter(Boolean)
          .join('; ')
      }
    ]
  };
}

async function checkOrphans(dir) {
  const left = await until(() => leftKernels(dir).length === 0, 10, 250);
  const remaining = left ? [] : leftKernels(dir);
  for (const p of remaining) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  return {
    name: 'no kernel process left after the servers stopped',
    ok: remaining.length === 0,
    detail: remaining
      .map(p => `${p.pid} (ppid ${p.ppid}) ${p.args.slice(0, 80)}`)
      .join('; ')
  };
}

// ---------------------------------------------------------------- scenarios

/** kill -9 of the server while a run executes, KILLS times, restarted on the same data dir / database. */
async function killScenario(store) {
  const dir = join(WORK, `kill-${store}`);
  const pg = store === 'postgres' ? await startPostgres(join(dir, 'pg')) : null;
  const dataDir = join(dir, 'data');
  let server = await spawnServer(dataDir, pg?.url);
  const api = client(createKey(dataDir, pg?.url));
  api.target.url = server.url;
  const checks = [];
  const killed = [];
  const restarts = [];
  let healthy = true;
  try {
    const flow = await scheduledFlow(api, 'chaos-kill', null);
    const seen = new Set();
    for (let i = 0; i < KILLS; i++) {
      const running = await runningRuns(api, flow.flowId, seen);
      server.proc.kill('SIGKILL');
      const killAt = Date.now();
      for (const run of running) {
        if (!seen.has(run.id)) {
          seen.add(run.id);
          killed.push({ id: run.id, killAt });
        }
      }
      await server.exited;
      server = await spawnServer(dataDir, pg?.url);
      api.target.url = server.url;
      healthy = healthy && Boolean(await until(() => api.health(), 10));
      restarts.push(server.startS);
      log(
        `${store}: kill ${i + 1}/${KILLS}, restarted in ${server.startS.toFixed(1)} s`
      );
    }
    checks.push({
      name: 'the restarted server opens the store and answers /api/health',
      ok: healthy,
      detail: healthy
        ? ''
        : 'a restarted server did not answer /api/health within 10 s'
    });
    // Runs go on after the last restart.
    const after = Date.now();
    const resumed = await until(
      async () =>
        (await listRuns(api, flow.flowId, ['Completed'])).some(
          r => time(r.startedAt) > after
        ),
      30
    );
    checks.push({
      name: 'scheduled runs complete after the last restart',
      ok: Boolean(resumed),
      detail: resumed ? '' : 'no run completed within 30 s of the last restart'
    });
    await settle(api, [flow]);
    const crash = await checkCrashed(api, killed, CRASH_BOUND_S[store]);
    checks.push(...crash.checks);
    const runs = await checkRuns(api, [flow]);
    checks.push(...runs.checks);
    await server.stop();
    checks.push(await checkOrphans(dir));
    return {
      scenario: `kill -9 of the server mid-run ×${KILLS}, restarted on the same ${store === 'pglite' ? 'data dir' : 'database'}`,
      store,
      checks,
      runs: runs.count,
      states: runs.states,
      reasons: runs.reasons,
      crash: crash.latencies,
      extra: `restart to listening: ${fmt(summary(restarts))}`
    };
  } finally {
    await server.stop();
    await pg?.destroy();
  }
}

/** PostgreSQL restarted (-m fast) during runs, then stopped for a while and started again. */
async function postgresOutageScenario() {
  const dir = join(WORK, 'pg-outage');
  const pg = await startPostgres(join(dir, 'pg'));
  const dataDir = join(dir, 'data');
  let server = await spawnServer(dataDir, pg.url);
  const api = client(createKey(dataDir, pg.url));
  api.target.url = server.url;
  const checks = [];
  const stopS = SHORT ? 5 : 30;
  const restarts = SHORT ? 1 : 3;
  const notes = [];
  try {
    const flow = await scheduledFlow(api, 'chaos-pg', null);
    const seen = new Set();
    const completesAfter = async (label, timeoutS = 40) => {
      const after = Date.now();
      const ok = await until(
        async () =>
          (await listRuns(api, flow.flowId, ['Completed'])).some(
            r => time(r.startedAt) > after
          ),
        timeoutS
      );
      checks.push({
        name: `runs complete again after ${label}`,
        ok: Boolean(ok),
        detail: ok ? '' : `no run completed within ${timeoutS} s`
      });
    };
    for (let i = 0; i < restarts; i++) {
      await runningRuns(api, flow.flowId, seen);
      await pg.restart();
      log(`postgres restarted (${i + 1}/${restarts})`);
    }
    await completesAfter('pg_ctl restart -m fast');
    await runningRuns(api, flow.flowId, seen);
    await pg.stop();
    const downAt = Date.now();
    // The outage itself lasts a set time: that is the fault, not a wait for a condition.
    await sleep(stopS * 1000);
    const answeredDuring = await api.health().catch(() => false);
    notes.push(
      `/api/health during the outage: ${answeredDuring ? 'answered' : 'no answer'}`
    );
    await pg.start();
    log(`postgres back after ${((Date.now() - downAt) / 1000).toFixed(0)} s`);
    if (!server.alive()) {
      notes.push(
        `the server exited during the outage (${JSON.stringify(await server.exited)})`
      );
      checks.push({
        name: 'the server survives the database outage',
        ok: false,
        detail: server.stderr().slice(-300)
      });
      server = await spawnServer(dataDir, pg.url);
      api.target.url = server.url;
    } else {
      checks.push({
        name: 'the server survives the database outage',
        ok: true,
        detail: ''
      });
    }
    const healthy = await until(() => api.health(), 30);
    checks.push({
      name: 'the server answers /api/health once the database is back',
      ok: Boolean(healthy),
      detail: healthy ? '' : 'no answer within 30 s'
    });
    await completesAfter(`a ${stopS} s stop`, 60);
    await settle(api, [flow]);
    const runs = await checkRuns(api, [flow]);
    checks.push(...runs.checks);
    await server.stop();
    checks.push(await checkOrphans(dir));
    return {
      scenario: `PostgreSQL \`pg_ctl restart -m fast\` ×${restarts} during runs, then stopped ${stopS} s and started`,
      store: 'postgres',
      checks,
      runs: runs.count,
      states: runs.states,
      reasons: runs.reasons,
      crash: [],
      extra: notes.join('; ')
    };
  } finally {
    await server.stop();
    await pg.destroy();
  }
}

/** Two servers on one PostgreSQL, three 1-second schedules, one server killed -9 midway. */
async function twoServersScenario() {
  const dir = join(WORK, 'two-servers');
  const pg = await startPostgres(join(dir, 'pg'));
  const a = await spawnServer(join(dir, 'a'), pg.url);
  const b = await spawnServer(join(dir, 'b'), pg.url);
  const key = createKey(join(dir, 'a'), pg.url);
  const apiA = client(key);
  apiA.target.url = a.url;
  const api = client(key);
  api.target.url = b.url;
  const totalS = SHORT ? 20 : 120;
  const checks = [];
  try {
    const flows = [];
    for (let i = 0; i < 3; i++) {
      flows.push(
        await scheduledFlow(i % 2 ? apiA : api, `chaos-two-${i}`, null)
      );
    }
    const startedAt = Date.now();
    // Midway: kill A while it executes a run: one kernel more than its warm one (default 1).
    await sleep((totalS / 2) * 1000);
    await until(() => kernelsUnder(a.proc.pid) >= 2, 10, 50);
    const running = [];
    for (const { flowId } of flows) {
      running.push(...(await listRuns(api, flowId, ['Running'])));
    }
    a.proc.kill('SIGKILL');
    const killAt = Date.now();
    await a.exited;
    log(`two servers: A killed with ${running.length} runs Running`);
    await sleep(Math.max(0, startedAt + totalS * 1000 - Date.now()));
    const settled = await settle(api, flows);
    // Which of the runs Running at the kill were A's: the ones still Running after the kill, not B's.
    const crash = await checkCrashed(
      api,
      running.map(r => ({ id: r.id, killAt })),
      CRASH_BOUND_S.postgres,
      { othersRunning: true }
    );
    checks.push(...crash.checks);
    const runs = await checkRuns(api, flows);
    checks.push(...runs.checks);
    await b.stop();
    checks.push(await checkOrphans(dir));
    return {
      scenario: `two servers on one PostgreSQL, three 1-second schedules, one killed -9 midway (${totalS} s)`,
      store: 'postgres',
      checks,
      runs: runs.count,
      states: runs.states,
      reasons: runs.reasons,
      crash: crash.latencies,
      extra: backlogNote(settled)
    };
  } finally {
    await a.stop();
    await b.stop();
    await pg.destroy();
  }
}

const KERNEL_KILL = [
  '%%task die',
  'import os, pathlib',
  "marker = pathlib.Path('chaos-kernel-killed')",
  'if not marker.exists():',
  "    marker.write_text('1')",
  '    os.kill(os.getpid(), 9)'
].join('\n');

/** A task that kills its own kernel (first run only): that run Crashed, the next ones Completed. */
async function kernelDeathScenario(store) {
  const dir = join(WORK, `kernel-${store}`);
  const pg = store === 'postgres' ? await startPostgres(join(dir, 'pg')) : null;
  const dataDir = join(dir, 'data');
  const server = await spawnServer(dataDir, pg?.url);
  const api = client(createKey(dataDir, pg?.url));
  api.target.url = server.url;
  const checks = [];
  try {
    const flow = await scheduledFlow(api, 'chaos-kernel', KERNEL_KILL);
    const ended = r => !['Scheduled', ...ACTIVE].includes(r.state);
    const byTime = runs =>
      runs
        .filter(ended)
        .sort((x, y) => time(x.scheduledAt) - time(y.scheduledAt));
    await must(
      'seven runs ended',
      async () => byTime(await listRuns(api, flow.flowId)).length >= 7,
      60,
      250
    );
    await settle(api, [flow]);
    const runs = byTime(await listRuns(api, flow.flowId));
    // Runs overlap (parallel), so the run that kills its kernel is the first to reach the task, not
    // necessarily the first by scheduled time: exactly one run Crashed, the others Completed.
    const crashed = runs.filter(r => r.state === 'Crashed');
    const first = crashed[0] ?? runs[0];
    checks.push({
      name: 'the run whose kernel was killed ends Crashed',
      ok:
        crashed.length === 1 &&
        /kernel/i.test(`${first.stateReason} ${first.error}`),
      detail: `${crashed.length} Crashed; ${first.state}: ${(first.stateReason ?? first.error ?? '').split('\n')[0]}`
    });
    const bad = runs.filter(
      r => r !== first && r.state !== 'Completed' && r.state !== 'Skipped'
    );
    const after = runs.filter(
      r =>
        r.state === 'Completed' && time(r.scheduledAt) > time(first.scheduledAt)
    );
    checks.push({
      name: 'the runs after it complete',
      ok: bad.length === 0 && after.length >= 3,
      detail: `${after.length} Completed after it; ${bad.map(r => `${r.id} ${r.state} ${r.stateReason ?? ''}`).join('; ')}`
    });
    checks.push({
      name: 'the server answers /api/health',
      ok: await api.health(),
      detail: ''
    });
    const all = await checkRuns(api, [flow]);
    checks.push(...all.checks);
    await server.stop();
    checks.push(await checkOrphans(dir));
    return {
      scenario:
        'kernel death: the task runs `os.kill(os.getpid(), 9)` (first run)',
      store,
      checks,
      runs: all.count,
      states: all.states,
      reasons: all.reasons,
      crash: [],
      extra: first.stateReason ?? ''
    };
  } finally {
    await server.stop();
    await pg?.destroy();
  }
}

/** The embedded store on a full disk (a 128 MB tmpfs filled to below the 48 MB reserve), then freed. */
async function fullDiskScenario() {
  const dir = join(WORK, 'disk');
  const mount = join(dir, 'mnt');
  mkdirSync(mount, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128m', 'tmpfs', mount]);
  const checks = [];
  let server;
  try {
    const dataDir = join(mount, 'data');
    server = await spawnServer(dataDir);
    const api = client(createKey(dataDir));
    api.target.url = server.url;
    const flow = await scheduledFlow(api, 'chaos-disk', null);
    await must(
      'a run completed',
      async () => (await listRuns(api, flow.flowId, ['Completed'])).length > 0,
      30
    );
    const free = () => {
      const s = statfsSync(mount);
      return Number(s.bavail) * Number(s.bsize);
    };
    // Down to 32 MB free: below the reserve, above what PGlite needs to keep answering.
    const ballast = join(mount, 'ballast');
    const size = Math.max(0, free() - 32 * 2 ** 20);
    writeFileSync(ballast, Buffer.alloc(size));
    const fullAt = Date.now();
    log(`disk: ${(free() / 2 ** 20).toFixed(0)} MB free`);
    const refused = await until(
      async () => {
        const runs = await listRuns(api, flow.flowId);
        return runs.find(
          r =>
            time(r.endedAt ?? 0) > fullAt &&
            /disk full/i.test(`${r.stateReason} ${r.error}`)
        );
      },
      60,
      250
    );
    checks.push({
      name: 'on a full disk runs end Crashed with "disk full"',
      ok: Boolean(refused && refused.state === 'Crashed'),
      detail: refused
        ? `${refused.state}: ${(refused.stateReason ?? refused.error ?? '').slice(0, 100)}`
        : 'no run ended with "disk full" within 60 s'
    });
    checks.push({
      name: '/api/health answers on the full disk',
      ok: Boolean(await until(() => api.health(), 10)),
      detail: ''
    });
    rmSync(ballast);
    const freedAt = Date.now();
    const resumed = await until(
      async () =>
        (await listRuns(api, flow.flowId, ['Completed'])).some(
          r => time(r.startedAt) > freedAt
        ),
      60
    );
    checks.push({
      name: 'runs complete again once space is back',
      ok: Boolean(resumed),
      detail: resumed
        ? `after ${((Date.now() - freedAt) / 1000).toFixed(1)} s`
        : 'none within 60 s'
    });
    await settle(api, [flow]);
    const runs = await checkRuns(api, [flow]);
    checks.push(...runs.checks);
    await server.stop();
    checks.push(await checkOrphans(dir));
    return {
      scenario:
        'full disk: data dir on a 128 MB tmpfs, filled to 32 MB free (reserve 48 MB), then freed',
      store: 'pglite',
      checks,
      runs: runs.count,
      states: runs.states,
      reasons: runs.reasons,
      crash: [],
      extra: ''
    };
  } finally {
    await server?.stop();
    execFileSync('umount', [mount]);
  }
}

// ---------------------------------------------------------------- report

function fmt(s) {
  return s.n
    ? `${s.median.toFixed(1)} / ${s.max.toFixed(1)} s (n ${s.n})`
    : '–';
}

const scenarios = [];
const skipped = [];
const hasPostgres = findPostgresBin() !== null;
const wants = name => !values.only || values.only.split(',').includes(name);
for (const store of STORES) {
  if (store === 'postgres' && !hasPostgres) {
    skipped.push(
      'PostgreSQL scenarios: no PostgreSQL server binaries (apt-get install postgresql)'
    );
    continue;
  }
  if (wants('kill')) {
    scenarios.push(['kill', () => killScenario(store)]);
  }
}
if (STORES.includes('postgres') && hasPostgres) {
  if (wants('pg-outage')) {
    scenarios.push(['pg-outage', postgresOutageScenario]);
  }
  if (wants('two-servers')) {
    scenarios.push(['two-servers', twoServersScenario]);
  }
}
if (wants('kernel')) {
  scenarios.push(['kernel', () => kernelDeathScenario(STORES[0])]);
}
if (wants('disk') && STORES.includes('pglite')) {
  if (process.getuid?.() === 0) {
    scenarios.push(['disk', fullDiskScenario]);
  } else {
    skipped.push('full disk: needs root (mount -t tmpfs)');
  }
}

const began = Date.now();
const results = [];
for (const [name, run] of scenarios) {
  const at = Date.now();
  log(`${name}: start`);
  try {
    const result = await run();
    result.seconds = (Date.now() - at) / 1000;
    results.push(result);
  } catch (error) {
    results.push({
      scenario: name,
      store: '',
      checks: [
        {
          name: 'the scenario ran to its end',
          ok: false,
          detail: String(error?.stack ?? error)
        }
      ],
      runs: 0,
      states: {},
      crash: [],
      extra: '',
      seconds: (Date.now() - at) / 1000
    });
  }
  const last = results[results.length - 1];
  log(
    `${name}: ${last.checks.filter(c => c.ok).length}/${last.checks.length} invariants held in ${last.seconds.toFixed(0)} s`
  );
  for (const c of last.checks.filter(c => !c.ok)) {
    log(`  FAILED ${c.name}: ${c.detail}`);
  }
}
const totalS = (Date.now() - began) / 1000;
rmSync(WORK, { recursive: true, force: true });

const passed = results.reduce(
  (n, r) => n + r.checks.filter(c => c.ok).length,
  0
);
const failed = results.reduce(
  (n, r) => n + r.checks.filter(c => !c.ok).length,
  0
);
const stateText = states =>
  Object.entries(states)
    .sort((x, y) => y[1] - x[1])
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
const rows = results.map(r => {
  const failedChecks = r.checks.filter(c => !c.ok);
  return (
    `| ${r.scenario} | ${r.store} | ${r.runs} (${stateText(r.states)}) | ` +
    `${r.crash.length ? fmt(summary(r.crash)) : '–'} | ` +
    `${r.checks.length - failedChecks.length}/${r.checks.length}` +
    `${failedChecks.length ? `: **failed** ${failedChecks.map(c => `${c.name} (${c.detail.replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 200)})`).join('; ')}` : ''} | ` +
    `${r.seconds.toFixed(0)} s${r.extra ? `; ${r.extra}` : ''}` +
    `${
      r.reasons && Object.keys(r.reasons).length
        ? `; Crashed: ${Object.entries(r.reasons)
            .map(([why, n]) => `${n}× "${why.replace(/\|/g, '\\|')}"`)
            .join(', ')}`
        : ''
    } |`
  );
});
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; server \`${CLI.replace(ROOT, '.')}\`` +
    ` (lease ${LEASE_S} s${/--lease/.test(HELP) ? ', `--lease` supported' : ', no `--lease` option'}), default isolation.`,
  `Command: \`node bench/chaos.mjs${SHORT ? ' --short' : ''} --store ${values.store}${values.kills ? ` --kills ${KILLS}` : ''}\`; ${totalS.toFixed(0)} s in all.`,
  '',
  '| Scenario | Store | Runs (end states) | Crash seen after the kill: median / max | Invariants held | Time; notes |',
  '|---|---|---|---|---|---|',
  ...rows,
  ...skipped.map(s => `| skipped: ${s} | | | | | |`)
].join('\n');
console.log(`\n${table}\n`);
console.log(
  `chaos: ${passed} passed, ${failed} failed in ${totalS.toFixed(0)} s`
);
if (values.json) {
  writeFileSync(values.json, JSON.stringify({ passed, failed }));
}
// A partial run (--only) prints its rows but leaves the table of the whole suite as it was measured.
if (!SHORT && !values.only) {
  const file = join(ROOT, 'docs', 'reliability.md');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const start = '<!-- chaos:start -->';
  const end = '<!-- chaos:end -->';
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) {
    throw new Error(`docs/reliability.md has no ${start} … ${end} section`);
  }
  writeFileSync(
    file,
    `${text.slice(0, from + start.length)}\n${table}\n${text.slice(to)}`
  );
}
process.exitCode = failed > 0 || results.length === 0 ? 1 : 0;
