/**
 * The scheduler on a real store (PGlite) with a manual clock: planning ahead, releasing at the due
 * time, overlap policies, Late, pausing, and each missed-run policy after a downtime.
 */
import {
  afterAll,
  afterEach,
  beforeAll,
  describe,
  expect,
  it,
  vi
} from 'vitest';

import { LocalEventHub } from '../src/events/hub.js';
import { withEventNotifications } from '../src/events/notifying-store.js';
import {
  Scheduler,
  onSchedulesChanged,
  schedulesChanged,
  type SchedulerOptions
} from '../src/scheduler/index.js';
import type { DrizzleStore } from '../src/store/drizzle-store.js';
import type { Store } from '../src/store/store.js';
import { openTestStore, type TestStore } from './support/api-fixture.js';
import {
  T0,
  deployedFlow,
  finish,
  manualClock,
  runsOf,
  secondsOf,
  statesOf
} from './support/scheduler-fixture.js';

let test: TestStore;
let store: Store;
const schedulers: Scheduler[] = [];
// A scheduler works across workspaces: each test's flows go afterwards, so reports count only its own.
const flows: { workspaceId: string; flowId: string }[] = [];
beforeAll(async () => {
  test = await openTestStore();
  store = test.store;
});
afterEach(async () => {
  for (const s of schedulers.splice(0)) {
    await s.stop();
  }
  for (const f of flows.splice(0)) {
    await store.deleteFlow(f.workspaceId, f.flowId);
  }
});
afterAll(() => test.close());

function scheduler(
  clock: ReturnType<typeof manualClock>,
  options: Partial<SchedulerOptions> = {}
) {
  const wake = vi.fn();
  const s = new Scheduler({
    store,
    now: clock.now,
    timers: false,
    lookAheadMs: 30_000,
    lateAfterMs: 5_000,
    runs: { wake },
    ...options
  });
  schedulers.push(s);
  return { s, wake };
}

/** A flow with a 10-second interval schedule created at T0 (ticks at T0+10 s, +20 s, ...). */
async function everyTen(
  overlap?: ['queue' | 'skip' | 'parallel', number | null],
  extra: Record<string, unknown> = {}
) {
  const { workspaceId, flow } = await deployedFlow(store);
  flows.push({ workspaceId, flowId: flow.id });
  if (overlap) {
    await store.setFlowOverlap(workspaceId, flow.id, ...overlap);
  }
  const schedule = await store.createSchedule(
    workspaceId,
    flow.id,
    { kind: 'interval', every: '10s', parameters: { limit: 3 }, ...extra },
    new Date(T0)
  );
  const runs = () => runsOf(store, workspaceId, flow.id);
  return { workspaceId, flow, schedule, runs };
}

describe('scheduler', () => {
  it('plans runs ahead and releases each at its time, with the parameters resolved', async () => {
    const clock = manualClock();
    const { runs } = await everyTen(['parallel', null]);
    const { s, wake } = scheduler(clock);
    const first = await s.start();
    expect(first).toMatchObject({ planned: 3, released: 0 });
    let all = await runs();
    expect(secondsOf(all)).toEqual([10, 20, 30]);
    expect(statesOf(all)).toEqual(['Scheduled', 'Scheduled', 'Scheduled']);
    expect(all[0]).toMatchObject({
      trigger: 'scheduled',
      parameters: { url: 'http://127.0.0.1/users', limit: 3 }
    });
    // The next pass is due exactly when the first run is.
    expect(first!.nextAt).toBe(T0 + 10_000);

    clock.set(T0 + 10_000);
    expect(await s.tick()).toMatchObject({ released: 1, planned: 0 });
    expect(wake).toHaveBeenCalledTimes(1);
    all = await runs();
    expect(secondsOf(all)).toEqual([10, 20, 30]);
    expect(statesOf(all)).toEqual(['Pending', 'Scheduled', 'Scheduled']);
    // Planning is topped up once half the look-ahead (15 s) is used up.
    clock.set(T0 + 15_000);
    expect(await s.tick()).toMatchObject({ planned: 1 });
    expect(secondsOf(await runs())).toEqual([10, 20, 30, 40]);

    // A pass a moment early releases nothing; the planned runs are never created twice.
    clock.set(T0 + 19_999);
    expect(await s.tick()).toMatchObject({ released: 0, nextAt: T0 + 20_000 });
    clock.set(T0 + 20_000);
    await s.tick();
    all = await runs();
    expect(statesOf(all).slice(0, 2)).toEqual(['Pending', 'Pending']);
    expect(new Set(secondsOf(all)).size).toBe(all.length);
  });

  it('overlap queue: a due run waits for the running one, turns Late, then runs', async () => {
    const clock = manualClock();
    const { runs } = await everyTen(['queue', null]);
    const { s } = scheduler(clock);
    await s.start();
    clock.set(T0 + 10_000);
    await s.tick();
    clock.set(T0 + 20_000);
    const report = await s.tick();
    expect(report).toMatchObject({ released: 0, waiting: 1 });
    // The next pass: when the waiting run turns Late (or a recheck for a free slot, sooner).
    expect(report!.nextAt).toBeLessThanOrEqual(T0 + 25_000);
    clock.set(T0 + 25_000);
    expect(await s.tick()).toMatchObject({ late: 1, released: 0 });
    let all = await runs();
    expect(statesOf(all).slice(0, 2)).toEqual(['Pending', 'Late']);
    expect(all[1].stateReason).toMatch(/not started 5 s after/);

    await finish(store, all[0]);
    clock.set(T0 + 26_000);
    expect(await s.tick()).toMatchObject({ released: 1 });
    all = await runs();
    expect(statesOf(all).slice(0, 2)).toEqual(['Completed', 'Pending']);
  });

  it('overlap skip: a due run is Skipped with a reason while one runs', async () => {
    const clock = manualClock();
    const { runs } = await everyTen(['skip', null]);
    const { s } = scheduler(clock);
    await s.start();
    clock.set(T0 + 10_000);
    await s.tick();
    clock.set(T0 + 20_000);
    expect(await s.tick()).toMatchObject({ skipped: 1, released: 0 });
    let all = await runs();
    expect(statesOf(all).slice(0, 2)).toEqual(['Pending', 'Skipped']);
    expect(all[1].stateReason).toMatch(/still active \(overlap: skip\)/);
    await finish(store, all[0]);
    clock.set(T0 + 30_000);
    expect(await s.tick()).toMatchObject({ released: 1 });
    all = await runs();
    expect(statesOf(all).slice(0, 3)).toEqual([
      'Completed',
      'Skipped',
      'Pending'
    ]);
  });

  it('overlap parallel: up to maxConcurrent at once, the rest wait', async () => {
    const clock = manualClock();
    const { runs } = await everyTen(['parallel', 2]);
    const { s } = scheduler(clock);
    await s.start();
    clock.set(T0 + 30_000);
    expect(await s.tick()).toMatchObject({ released: 2, waiting: 1 });
    const all = await runs();
    expect(statesOf(all).slice(0, 3)).toEqual([
      'Pending',
      'Pending',
      'Scheduled'
    ]);
    await finish(store, all[0]);
    clock.set(T0 + 30_001);
    expect(await s.tick()).toMatchObject({ released: 1 });
  });

  it('pausing removes the planned runs and stops new ones; resuming does not backfill', async () => {
    const clock = manualClock();
    const { workspaceId, schedule, runs } = await everyTen(['parallel', null]);
    const { s } = scheduler(clock);
    await s.start();
    expect(await runs()).toHaveLength(3);
    const change = await store.setSchedulePaused(
      workspaceId,
      schedule.id,
      true,
      clock.now()
    );
    expect(change.removedRuns).toHaveLength(3);
    for (const at of [10_000, 40_000, 100_000]) {
      clock.set(T0 + at);
      expect(await s.tick()).toMatchObject({ planned: 0, released: 0 });
    }
    expect(await runs()).toEqual([]);
    await store.setSchedulePaused(workspaceId, schedule.id, false, clock.now());
    await s.tick();
    // Planned from the resume on: nothing for the paused minutes.
    expect(secondsOf(await runs())).toEqual([110, 120, 130]);
  });

  it("skips a paused flow's due runs and records why", async () => {
    const clock = manualClock();
    const { workspaceId, flow, runs } = await everyTen(['parallel', null]);
    const { s } = scheduler(clock);
    await s.start();
    await store.setFlowPaused(workspaceId, flow.id, true);
    clock.set(T0 + 10_000);
    expect(await s.tick()).toMatchObject({ skipped: 1, released: 0 });
    const [first] = await runs();
    expect(first).toMatchObject({
      state: 'Skipped',
      stateReason: 'the flow is paused'
    });
  });

  it('records ticks whose parameters the latest flow version refuses as Skipped runs', async () => {
    const clock = manualClock();
    const { runs } = await everyTen(['parallel', null], {
      parameters: { nope: 1 }
    });
    const { s } = scheduler(clock);
    await s.start();
    const all = await runs();
    expect(statesOf(all)).toEqual(['Skipped', 'Skipped', 'Skipped']);
    expect(all[0].stateReason).toMatch(/unknown parameter "nope"/);
  });
});

it('a schedule that cannot be planned is reported and does not hold up the others', async () => {
  const clock = manualClock();
  const broken = await everyTen(['parallel', null]);
  const good = await everyTen(['parallel', null]);
  // A row no validated write could produce: every = 0.
  await (store as unknown as DrizzleStore).queryRows(
    `UPDATE schedules SET spec = jsonb_set(spec, '{every}', '0') WHERE id = '${broken.schedule.id}'`
  );
  const errors: string[] = [];
  const { s } = scheduler(clock, { onError: e => errors.push(String(e)) });
  expect(await s.start()).toMatchObject({ planned: 3 });
  expect(await good.runs()).toHaveLength(3);
  expect(await broken.runs()).toEqual([]);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toContain(`schedule ${broken.schedule.id}`);
  expect(errors[0]).toMatch(/every/);
});

it('hears schedule changes made through a store wrapped for event notifications', async () => {
  const wrapped = withEventNotifications(store, new LocalEventHub());
  let heard = 0;
  const stop = onSchedulesChanged(store, () => heard++);
  schedulesChanged(wrapped);
  stop();
  schedulesChanged(wrapped);
  expect(heard).toBe(1);
});

describe('scheduler: after downtime', () => {
  /**
   * Plans at T0 (runs at 10, 20, 30 s), stops, and starts a new scheduler at T0+94 s: ticks 10..80 s
   * are missed (more than lateAfterMs = 5 s old); the 90 s tick is just due, not missed.
   */
  async function downtime(policy: 'skip' | 'latest' | 'all', missedCap = 100) {
    const clock = manualClock();
    const ctx = await everyTen(['parallel', null], { missedPolicy: policy });
    const before = scheduler(clock);
    await before.s.start();
    await before.s.stop();
    clock.set(T0 + 94_000);
    const after = scheduler(clock, { missedCap });
    await after.s.start();
    const all = await ctx.runs();
    const byState = (state: string) =>
      secondsOf(all.filter(r => r.state === state));
    return { ...ctx, all, byState };
  }

  it('skip: every missed tick is recorded Skipped; the tick just due runs', async () => {
    const { all, byState, workspaceId } = await downtime('skip');
    expect(byState('Skipped')).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    expect(byState('Pending')).toEqual([90]);
    expect(byState('Scheduled')).toEqual([100, 110, 120]);
    expect(
      all
        .filter(r => r.state === 'Skipped')
        .every(r => /policy: skip/.test(r.stateReason!))
    ).toBe(true);
    const missed = (await store.listEvents({ workspaceId })).filter(
      e => e.type === 'schedule.missed'
    );
    expect(missed).toHaveLength(1);
    expect(missed[0].payload).toMatchObject({
      policy: 'skip',
      run: 0,
      skipped: 8,
      capped: false
    });
  });

  it('latest: only the most recent missed tick runs', async () => {
    const { byState } = await downtime('latest');
    expect(byState('Skipped')).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(byState('Pending')).toEqual([80, 90]);
  });

  it('all: every missed tick runs, up to the cap', async () => {
    const { byState } = await downtime('all');
    expect(byState('Pending')).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(byState('Skipped')).toEqual([]);
    const capped = await downtime('all', 3);
    // The latest 3 missed run; the planned ones before them are Skipped; older unplanned ones are left out.
    expect(capped.byState('Pending')).toEqual([60, 70, 80, 90]);
    expect(capped.byState('Skipped')).toEqual([10, 20, 30]);
  });
});
