/**
 * A crashed server's runs do not hold their flow's slots for a whole lease: a server starting on a
 * data dir crashes the runs its predecessor there leased (its instance id) and those of dead processes
 * on this host at once, whatever their lease (PostgreSQL, where other servers share the store); leases
 * are short and swept every third of one; and a flow's `retries` retry a crashed run automatically, at
 * most that many times per original run.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { CRASH_RETRY_CAUSE } from '../src/runs/crash-retry.js';
import {
  instanceIdOf,
  parseLeaseOwner,
  predecessorOwners
} from '../src/runs/lease-owner.js';
import { RETRY_EVENT_TYPE } from '../src/runs/retry.js';
import {
  LEASE_EXPIRED_REASON,
  RunService,
  type RunServiceOptions
} from '../src/runs/service.js';
import {
  DEAD_OWNER_CRASH_REASON,
  RESTART_CRASH_REASON,
  startCellflowServer,
  type CellflowServer
} from '../src/start.js';
import { Scheduler } from '../src/scheduler/index.js';
import { openPgliteStore, openPostgresStore } from '../src/store/index.js';
import type { FlowRun, FlowRunState, Store } from '../src/store/store.js';
import {
  KernelLog,
  WaitingHub,
  deploy,
  notebook,
  python
} from './runs-helpers.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

const TEN_MINUTES = 600_000;
const dirs: string[] = [];
let flowCount = 0;

afterAll(async () => {
  await Promise.all(dirs.map(d => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cellflow-crash-'));
  dirs.push(dir);
  return dir;
}

/** A pid no process has now (one that just exited). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  return child.pid!;
}

async function claimAs(
  store: Store,
  workspaceId: string,
  flowId: string,
  owner: string,
  leaseMs: number
): Promise<FlowRun> {
  const run = await store.createRun({
    workspaceId,
    flowId,
    trigger: 'manual',
    state: 'Pending'
  });
  const claimed = await store.claimNextPendingRun({
    owner,
    leaseMs,
    workspaceId
  });
  expect(claimed?.id).toBe(run.id);
  return claimed!;
}

async function retriesOf(store: Store, run: FlowRun): Promise<FlowRun[]> {
  const { runs } = await store.listRuns({
    workspaceId: run.workspaceId,
    flowId: run.flowId,
    limit: 100
  });
  const found: FlowRun[] = [];
  for (const r of runs.filter(r => r.trigger === 'retry')) {
    const events = await store.listEvents({
      workspaceId: r.workspaceId,
      flowRunId: r.id
    });
    const link = events.find(e => e.type === RETRY_EVENT_TYPE);
    if (link?.payload.retryOf === run.id) {
      expect(link.payload.cause).toBe(CRASH_RETRY_CAUSE);
      found.push(r);
    }
  }
  return found;
}

describe('lease owners', () => {
  it('name the instance, host and pid; a successor picks out its predecessors', () => {
    const me = `instance:abcdef12-3456:${hostname()}:${process.pid}:aaaa`;
    expect(parseLeaseOwner(me)).toEqual({
      instanceId: 'abcdef12-3456',
      host: hostname(),
      pid: process.pid
    });
    expect(parseLeaseOwner('old-host:42:beef')).toEqual({
      instanceId: null,
      host: 'old-host',
      pid: 42
    });
    expect(parseLeaseOwner('dead-worker')).toBeNull();
    const dead = deadPid();
    const owners = [
      me,
      `instance:abcdef12-3456:elsewhere:7:bbbb`,
      `instance:other-instance:${hostname()}:${dead}:cccc`,
      `${hostname()}:${dead}:dddd`,
      `instance:other-instance:${hostname()}:${process.pid}:eeee`,
      `instance:other-instance:elsewhere:${dead}:ffff`
    ];
    expect(predecessorOwners(owners, 'abcdef12-3456', me)).toEqual({
      sameInstance: ['instance:abcdef12-3456:elsewhere:7:bbbb'],
      deadOnHost: [
        `instance:other-instance:${hostname()}:${dead}:cccc`,
        `${hostname()}:${dead}:dddd`
      ]
    });
  });
});

describe('a server starting on PostgreSQL', () => {
  let pg: TestPostgres;
  let store: Store;
  let server: CellflowServer | null = null;

  beforeAll(async () => {
    pg = await startPostgres();
    store = await openPostgresStore(pg.url);
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await store?.close();
    await pg?.stop();
  });

  it("crashes its data dir's and this host's dead predecessors' runs at once, whatever their lease, and retries them", async () => {
    const dataDir = await tempDir();
    const instanceId = instanceIdOf(dataDir);
    expect(instanceIdOf(dataDir)).toBe(instanceId);
    const workspaceId = (await store.ensureWorkspace('crash-pg')).id;
    const nb = notebook(['%%task a\nprint("again")']);
    const { flow: retried } = await deploy(store, workspaceId, 'retried', nb);
    await store.setFlowRetries(workspaceId, retried.id, { retries: 1 });
    const { flow } = await deploy(store, workspaceId, 'plain', nb);

    // The predecessor on this data dir ran on another host name (a container): only its id says so.
    const predecessor = await claimAs(
      store,
      workspaceId,
      retried.id,
      `instance:${instanceId}:old-container:4242:aaaa`,
      TEN_MINUTES
    );
    const deadHere = await claimAs(
      store,
      workspaceId,
      flow.id,
      `instance:${randomUUID()}:${hostname()}:${deadPid()}:bbbb`,
      TEN_MINUTES
    );
    const otherServer = await claimAs(
      store,
      workspaceId,
      flow.id,
      `instance:${randomUUID()}:other-host:4242:cccc`,
      TEN_MINUTES
    );
    const aliveHere = await claimAs(
      store,
      workspaceId,
      flow.id,
      `instance:${randomUUID()}:${hostname()}:${process.pid}:dddd`,
      TEN_MINUTES
    );

    server = await startCellflowServer({
      dataDir,
      databaseUrl: pg.url,
      port: 0,
      kernelPython: python,
      env: {},
      warmKernels: 0
    });
    expect([...server.crashedAtStart].sort()).toEqual(
      [predecessor.id, deadHere.id].sort()
    );
    const after = async (run: FlowRun) => (await store.getRunById(run.id))!;
    expect(await after(predecessor)).toMatchObject({
      state: 'Crashed',
      stateReason: RESTART_CRASH_REASON
    });
    expect(await after(deadHere)).toMatchObject({
      state: 'Crashed',
      stateReason: DEAD_OWNER_CRASH_REASON
    });
    expect((await after(otherServer)).state).toBe('Running');
    expect((await after(aliveHere)).state).toBe('Running');
    // The new server's own owner carries the data dir's instance id.
    expect(server.runs.ownerId).toMatch(
      new RegExp(`^instance:${instanceId}:${hostname()}:${process.pid}:`)
    );

    // The retried flow's crashed run was retried (the server runs it); the plain flow's was not.
    const retries = await retriesOf(store, predecessor);
    expect(retries).toHaveLength(1);
    expect(await retriesOf(store, deadHere)).toHaveLength(0);
    const done = await waitFor(
      async () => {
        const r = await after(retries[0]);
        return r.state === 'Completed' ? r : null;
      },
      30_000,
      'the retry to complete'
    );
    expect(done.state).toBe('Completed');
  }, 60_000);
});

/** Polls: for what no store write tells a hub (the server's own hub, a run service's onRunEnded). */
async function waitFor<T>(
  check: () => Promise<T | null>,
  limitMs: number,
  what: string
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
}

describe('the run service', () => {
  let store: Store;
  let dataDir: string;
  let workspaceId: string;
  const hub = new WaitingHub();
  const kernels = new KernelLog();
  const services: RunService[] = [];
  const ended: { run: FlowRun; state: FlowRunState }[] = [];

  beforeAll(async () => {
    store = await openPgliteStore();
    dataDir = await tempDir();
    workspaceId = (await store.ensureWorkspace('crash')).id;
  });
  afterEach(async () => {
    await Promise.all(services.splice(0).map(s => s.close()));
    await kernels.killAll();
  });
  afterAll(async () => {
    await kernels.killAll();
    await store?.close();
  });

  function service(options: Partial<RunServiceOptions> = {}): RunService {
    const s = new RunService({
      store,
      hub,
      dataDir,
      kernelPython: python,
      warmKernels: 0,
      onKernel: kernels.add,
      onRunEnded: (run, state) => ended.push({ run, state }),
      ...options
    });
    services.push(s);
    s.start();
    return s;
  }

  async function flowWithRetries(cells: string[], retries: number) {
    const { flow } = await deploy(
      store,
      workspaceId,
      `flow-${++flowCount}`,
      notebook(cells)
    );
    return store.setFlowRetries(workspaceId, flow.id, { retries });
  }

  it('with a 3 s lease, crashes a run whose owner never renews within 3-6 s of its claim', async () => {
    const flow = await flowWithRetries(['%%task a\nprint("a")'], 0);
    // The default re-check (5 s) is longer than a third of the lease: the sweep must not wait for it.
    service({ leaseMs: 3000 });
    await new Promise(r => setTimeout(r, 2500));
    const claimed = await claimAs(
      store,
      workspaceId,
      flow.id,
      'instance:gone:elsewhere:1:aaaa',
      3000
    );
    const claimedAt = Date.now();
    const crashed = await hub.until(
      'the sweep to crash the run',
      async () => {
        const now = await store.getRunById(claimed.id);
        return now?.state === 'Crashed' ? now : null;
      },
      10_000
    );
    const after = Date.now() - claimedAt;
    expect(crashed.stateReason).toBe(LEASE_EXPIRED_REASON);
    expect(after).toBeGreaterThanOrEqual(2900);
    expect(after).toBeLessThanOrEqual(6000);
  }, 20_000);

  it('retries a run the sweep crashed once when its flow has retries 1: the retry runs and completes', async () => {
    const flow = await flowWithRetries(['%%task a\nprint("a")'], 1);
    expect(flow).toMatchObject({ retries: 1, retryDelay: 0 });
    const claimed = await claimAs(
      store,
      workspaceId,
      flow.id,
      'instance:gone:elsewhere:1:bbbb',
      1
    );
    service({ leaseMs: 3000 });
    const [retry] = await hub.until('the crash retry', async () => {
      const found = await retriesOf(store, claimed);
      return found.length > 0 ? found : null;
    });
    expect(retry.trigger).toBe('retry');
    const done = await hub.until('the retry to complete', async () => {
      const now = await store.getRun(workspaceId, retry.id);
      return now?.state === 'Completed' ? now : null;
    });
    expect(done.taskRuns.map(t => [t.taskName, t.state])).toEqual([
      ['a', 'Completed']
    ]);
    expect((await store.getRunById(claimed.id))?.state).toBe('Crashed');
    const { runs } = await store.listRuns({ workspaceId, flowId: flow.id });
    expect(runs.map(r => r.id).sort()).toEqual([claimed.id, retry.id].sort());
  }, 40_000);

  it('starts a retry retryDelay seconds after the crash, released by the scheduler', async () => {
    const flow = await flowWithRetries(['%%task a\nprint("a")'], 1);
    await store.setFlowRetries(workspaceId, flow.id, { retryDelay: 1 });
    const claimed = await claimAs(
      store,
      workspaceId,
      flow.id,
      'instance:gone:elsewhere:1:cccc',
      1
    );
    const runs = service({ leaseMs: 3000 });
    const scheduler = new Scheduler({ store, hub, runs });
    await scheduler.start();
    try {
      const [retry] = await hub.until('the crash retry', async () => {
        const found = await retriesOf(store, claimed);
        return found.length > 0 ? found : null;
      });
      expect(retry.state).toBe('Scheduled');
      const crashedAt = (await store.getRunById(claimed.id))!.endedAt!;
      expect(
        retry.scheduledAt!.getTime() - crashedAt.getTime()
      ).toBeGreaterThanOrEqual(900);
      const done = await hub.until(
        'the delayed retry to complete',
        async () => {
          const now = await store.getRunById(retry.id);
          return now?.state === 'Completed' ? now : null;
        }
      );
      expect(done.startedAt!.getTime()).toBeGreaterThanOrEqual(
        retry.scheduledAt!.getTime()
      );
    } finally {
      await scheduler.stop();
    }
  }, 40_000);

  it('retries a run that crashed while executing at most `retries` times: a crashed retry gets no third run', async () => {
    const flow = await flowWithRetries(['%%task a\nprint("a")'], 1);
    const original = await store.createRun({
      workspaceId,
      flowId: flow.id,
      trigger: 'manual'
    });
    // The kernel cannot start: each run ends Crashed at its own end.
    service({ kernelPython: join(dataDir, 'no-such-python') });
    const [retry] = await hub.until('the crash retry', async () => {
      const found = await retriesOf(store, original);
      return found.length > 0 ? found : null;
    });
    await waitFor(
      async () =>
        ended.some(e => e.run.id === retry.id && e.state === 'Crashed'),
      25_000,
      'the retry to crash too'
    );
    // The end (and any retry it would make) is written before onRunEnded is told.
    await new Promise(r => setTimeout(r, 300));
    const { runs } = await store.listRuns({ workspaceId, flowId: flow.id });
    expect(runs.map(r => [r.id, r.state]).sort()).toEqual(
      [
        [original.id, 'Crashed'],
        [retry.id, 'Crashed']
      ].sort()
    );
    expect(await retriesOf(store, retry)).toHaveLength(0);
  }, 40_000);
});
