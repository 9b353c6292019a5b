/**
 * The database going away and coming back, on a throwaway PostgreSQL: the process survives (no
 * unhandled 'error' event from a pool or the LISTEN connection), the event hub re-LISTENs and tells its
 * listeners once, and the API answers 503 with Retry-After meanwhile, then 200 again without a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  afterAll,
  afterEach,
  beforeAll,
  describe,
  expect,
  it,
  vi
} from 'vitest';

import type { FastifyInstance } from 'fastify';

import { buildServer } from '../src/app.js';
import { PostgresEventHub } from '../src/events/postgres-hub.js';
import { RunService } from '../src/runs/service.js';
import { openPostgresStore } from '../src/store/index.js';
import type { Store } from '../src/store/store.js';
import { KernelLog, deploy, notebook, python } from './runs-helpers.js';
import { newTenant } from './support/api-fixture.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

let pg: TestPostgres;
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => {
  uncaught.push(error);
};
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  process.on('uncaughtException', onUncaught);
}, 120_000);

afterEach(async () => {
  uncaught.length = 0;
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch(() => undefined);
  }
});

afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await pg?.stop();
});

/**
 * Resolves once `check` is true, checking every `everyMs`; rejects naming `what` after `limitMs`, or at
 * once when an uncaught exception (which would have ended the server) was seen.
 */
async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  { limitMs = 20_000, everyMs = 100 } = {}
): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (uncaught.length > 0) {
      throw new Error(`the process would have crashed: ${String(uncaught[0])}`);
    }
    if (await check()) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(resolve => setTimeout(resolve, everyMs));
  }
}

/** Resolves when `hub` has a notify for `workspaceId`. */
function heard(hub: PostgresEventHub, workspaceId: string) {
  let count = 0;
  const stop = hub.subscribe(workspaceId, () => count++);
  cleanups.push(async () => stop());
  return { count: () => count, stop };
}

async function openHub(): Promise<PostgresEventHub> {
  const hub = await PostgresEventHub.open(pg.url);
  cleanups.push(() => hub.close());
  return hub;
}

/** NOTIFYs from `from` until `to`'s listener for a fresh workspace hears one. */
async function deliveredBetween(
  from: PostgresEventHub,
  to: PostgresEventHub,
  workspaceId: string
): Promise<void> {
  const listener = heard(to, workspaceId);
  await until(`a NOTIFY for ${workspaceId} to arrive`, () => {
    if (listener.count() > 0) {
      return true;
    }
    from.notify(workspaceId);
    return false;
  });
  listener.stop();
}

describe('database outage', () => {
  it("survives its connections being terminated, and re-LISTENs: another hub's NOTIFY arrives again", async () => {
    const [a, b] = [await openHub(), await openHub()];
    // Both pools hold an idle connection now, and both hubs LISTEN.
    await deliveredBetween(a, b, 'ws-before-1');
    await deliveredBetween(b, a, 'ws-before-2');
    const resync = heard(a, 'ws-live');

    const admin = await import('pg');
    const client = new admin.default.Client({ connectionString: pg.url });
    await client.connect();
    try {
      // Only the hubs are connected: every other client backend is theirs.
      const { rows } = await client.query(
        `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
          WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`
      );
      expect(rows.length).toBeGreaterThanOrEqual(3);
    } finally {
      await client.end();
    }

    // Once LISTENing again, the hub tells its listeners once, so live streams re-read what they missed.
    await until(
      'the hub to re-LISTEN and notify its listeners',
      () => resync.count() > 0
    );
    expect(resync.count()).toBe(1);
    await deliveredBetween(b, a, 'ws-after-1');
    await deliveredBetween(a, b, 'ws-after-2');
    expect(uncaught).toEqual([]);
  });

  it('survives pg_ctl restart -m fast, and re-LISTENs', async () => {
    const [a, b] = [await openHub(), await openHub()];
    await deliveredBetween(a, b, 'ws-up-1');
    await deliveredBetween(b, a, 'ws-up-2');
    const resync = heard(a, 'ws-live');
    await pg.restart();
    await until(
      'the hub to re-LISTEN after the restart',
      () => resync.count() > 0
    );
    await deliveredBetween(b, a, 'ws-again-1');
    await deliveredBetween(a, b, 'ws-again-2');
    expect(uncaught).toEqual([]);
  });

  it('answers 503 with Retry-After while PostgreSQL is stopped, and 200 again once it is back', async () => {
    const store: Store = await openPostgresStore(pg.url, { max: 4 });
    cleanups.push(() => store.close());
    const hub = await openHub();
    const other = await openHub();
    const app: FastifyInstance = await buildServer({ store, hub });
    cleanups.push(() => app.close());
    const tenant = await newTenant(store);
    const listFlows = () =>
      app.inject({ method: 'GET', url: '/api/flows', headers: tenant.headers });

    expect((await listFlows()).statusCode).toBe(200);
    await deliveredBetween(hub, other, 'ws-up');
    const resync = heard(hub, 'ws-live');

    await pg.pause();
    try {
      const down = await listFlows();
      expect(down.statusCode).toBe(503);
      expect(Number(down.headers['retry-after'])).toBeGreaterThan(0);
      expect(down.json()).toMatchObject({
        error: 'database-unavailable',
        message: expect.stringMatching(/database/i)
      });
    } finally {
      await pg.resume();
    }

    await until(
      'GET /api/flows to answer 200 again',
      async () => (await listFlows()).statusCode === 200
    );
    await until(
      'the hub to re-LISTEN after the restart',
      () => resync.count() > 0
    );
    await deliveredBetween(other, hub, 'ws-back');
    expect(uncaught).toEqual([]);
  });

  it('a run executing when the database goes away ends once it is back, not left Running until its lease runs out', async () => {
    const store: Store = await openPostgresStore(pg.url, { max: 4 });
    cleanups.push(() => store.close());
    const dataDir = mkdtempSync(join(tmpdir(), 'cellflow-outage-'));
    cleanups.push(async () =>
      rmSync(dataDir, { recursive: true, force: true })
    );
    const kernels = new KernelLog();
    cleanups.push(() => kernels.killAll());
    const logged: string[] = [];
    const capture = (...args: unknown[]) => void logged.push(args.join(' '));
    vi.spyOn(console, 'warn').mockImplementation(capture);
    vi.spyOn(console, 'error').mockImplementation(capture);

    const workspaceId = (await store.ensureWorkspace('outage')).id;
    const { flow } = await deploy(
      store,
      workspaceId,
      'sleeper',
      notebook(['%%task first\nimport time', '%%task sleep\ntime.sleep(3)'])
    );
    const service = new RunService({
      store,
      dataDir,
      kernelPython: python,
      warmKernels: 0,
      isolation: 'none',
      recheckMs: 60_000,
      // The default lease (60 s): the run must end long before a sweep would crash it.
      onKernel: kernels.add
    });
    cleanups.push(() => service.close());
    const run = await store.createRun({
      workspaceId,
      flowId: flow.id,
      trigger: 'manual',
      parameters: {}
    });
    service.start();
    await until('the sleeping task to run', async () => {
      const now = await store.getRun(workspaceId, run.id);
      return now?.taskRuns[1]?.state === 'Running';
    });

    await pg.pause();
    try {
      // The task ends while the database is away: its write fails, and so does the run's end.
      await until(
        "the run's end write to fail",
        () => logged.some(line => /could not end run/.test(line)),
        { limitMs: 15_000 }
      );
    } finally {
      await pg.resume();
    }

    let ended: Awaited<ReturnType<Store['getRun']>> = null;
    await until(
      'the run to end once the database is back',
      async () => {
        ended = await store.getRun(workspaceId, run.id).catch(() => null);
        return ended !== null && ended.state !== 'Running';
      },
      { limitMs: 20_000 }
    );
    expect(ended).toMatchObject({
      state: 'Crashed',
      stateReason: expect.stringMatching(/^a store write failed/)
    });
    expect(
      ended!.taskRuns
        .map(t => [t.taskName, t.state])
        .filter(
          ([, state]) => !['Completed', 'Crashed', 'Cancelled'].includes(state)
        )
    ).toEqual([]);
    expect(uncaught).toEqual([]);
  }, 60_000);
});
