/**
 * Two schedulers, each with its own connection pool, on one PostgreSQL: passes run concurrently at
 * every tick, yet each tick gets exactly one run, each run is released once, and overlap 'queue' never
 * lets both fill the flow's one slot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Scheduler } from '../src/scheduler/index.js';
import { openPostgresStore } from '../src/store/index.js';
import type { Store } from '../src/store/store.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';
import {
  T0,
  deployedFlow,
  manualClock,
  runsOf
} from './support/scheduler-fixture.js';

let pg: TestPostgres;
let stores: Store[] = [];
beforeAll(async () => {
  pg = await startPostgres();
  stores = [await openPostgresStore(pg.url), await openPostgresStore(pg.url)];
}, 120_000);
afterAll(async () => {
  for (const s of stores) {
    await s.close();
  }
  await pg?.stop();
});

async function twoSchedulersOver(
  overlap: 'parallel' | 'queue',
  seconds: number
) {
  const [a, b] = stores;
  const { workspaceId, flow } = await deployedFlow(a);
  await a.setFlowOverlap(workspaceId, flow.id, overlap, null);
  await a.createSchedule(
    workspaceId,
    flow.id,
    { kind: 'interval', every: 1 },
    new Date(T0)
  );
  const clock = manualClock();
  const options = {
    now: clock.now,
    timers: false,
    lookAheadMs: 4_000,
    lateAfterMs: 2_000
  };
  const schedulers = [
    new Scheduler({ store: a, ...options }),
    new Scheduler({ store: b, ...options })
  ];
  try {
    await Promise.all(schedulers.map(s => s.start()));
    for (let i = 1; i <= seconds; i++) {
      clock.set(T0 + i * 1000);
      await Promise.all(schedulers.map(s => s.tick()));
    }
  } finally {
    await Promise.all(schedulers.map(s => s.stop()));
  }
  const runs = await runsOf(a, workspaceId, flow.id);
  const events = await a.listEvents({
    workspaceId,
    flowId: flow.id,
    limit: 10_000
  });
  return { runs, events };
}

describe('two schedulers on one PostgreSQL', () => {
  it('never create a run twice, nor release one twice', async () => {
    const { runs, events } = await twoSchedulersOver('parallel', 12);
    const times = runs.map(r => r.scheduledAt!.getTime());
    expect(new Set(times).size).toBe(runs.length);
    // Ticks 1..12 s released, and the look-ahead planned (not more than it).
    const released = runs.filter(r => r.state === 'Pending');
    expect(released.map(r => (r.scheduledAt!.getTime() - T0) / 1000)).toEqual(
      Array.from({ length: 12 }, (_, i) => i + 1)
    );
    expect(
      runs.filter(r => r.state === 'Scheduled').length
    ).toBeLessThanOrEqual(4);
    expect(events.filter(e => e.type === 'flow_run.created')).toHaveLength(
      runs.length
    );
    const toPending = events.filter(
      e => e.type === 'flow_run.state' && e.payload.to === 'Pending'
    );
    expect(toPending).toHaveLength(12);
    expect(new Set(toPending.map(e => e.flowRunId)).size).toBe(12);
  }, 60_000);

  it("overlap queue: the flow's one slot goes to one run only", async () => {
    const { runs } = await twoSchedulersOver('queue', 6);
    expect(runs.filter(r => r.state === 'Pending')).toHaveLength(1);
    expect(runs.filter(r => r.state === 'Late').length).toBeGreaterThan(0);
  }, 60_000);
});
