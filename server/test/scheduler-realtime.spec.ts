/**
 * The scheduler on the real clock with its own timer: a 1-second interval schedule's runs come due in
 * order, one per tick, never before their time. Order and count are read from the events table.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';

import { LocalEventHub } from '../src/events/hub.js';
import { Scheduler } from '../src/scheduler/index.js';
import type { CellflowEvent, Store } from '../src/store/store.js';
import { openTestStore, type TestStore } from './support/api-fixture.js';
import { deployedFlow } from './support/scheduler-fixture.js';

let test: TestStore;
let store: Store;
beforeAll(async () => {
  test = await openTestStore();
  store = test.store;
});
afterAll(() => test.close());

/** Resolves with the workspace's events once `done` says so, re-reading the store on each notify. */
function collectEvents(
  hub: LocalEventHub,
  workspaceId: string,
  done: (events: CellflowEvent[]) => boolean
): Promise<CellflowEvent[]> {
  return new Promise((resolve, reject) => {
    const seen: CellflowEvent[] = [];
    let reading = Promise.resolve();
    const unsubscribe = hub.subscribe(workspaceId, () => {
      reading = reading.then(async () => {
        const after = seen.length ? seen[seen.length - 1].id : 0;
        seen.push(...(await store.listEvents({ workspaceId, afterId: after })));
        if (done(seen)) {
          unsubscribe();
          resolve(seen);
        }
      }, reject);
    });
  });
}

it('a 1-second interval schedule releases its runs in order, once each, at their time', async () => {
  const { workspaceId, flow } = await deployedFlow(store);
  await store.setFlowOverlap(workspaceId, flow.id, 'parallel', null);
  const hub = new LocalEventHub();
  const released = (events: CellflowEvent[]) =>
    events.filter(
      e => e.type === 'flow_run.state' && e.payload.to === 'Pending'
    );
  const waiting = collectEvents(
    hub,
    workspaceId,
    events => released(events).length >= 3
  );
  const wakes: number[] = [];
  const scheduler = new Scheduler({
    store,
    hub,
    runs: { wake: () => wakes.push(1) },
    lookAheadMs: 3_000
  });
  await store.createSchedule(workspaceId, flow.id, {
    kind: 'interval',
    every: 1
  });
  await scheduler.start();
  try {
    const events = await waiting;
    const pending = released(events).slice(0, 3);
    const runs = await Promise.all(
      pending.map(e => store.getRun(workspaceId, e.flowRunId!))
    );
    const times = runs.map(r => r!.scheduledAt!.getTime());
    // Consecutive ticks, in order, each released no earlier than its time.
    expect(times[1] - times[0]).toBe(1000);
    expect(times[2] - times[1]).toBe(1000);
    pending.forEach((event, i) =>
      expect(event.at.getTime()).toBeGreaterThanOrEqual(times[i])
    );
    // Each run was created once and released once.
    const ids = pending.map(e => e.flowRunId);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) {
      expect(
        events.filter(e => e.type === 'flow_run.created' && e.flowRunId === id)
      ).toHaveLength(1);
    }
    expect(wakes.length).toBeGreaterThanOrEqual(3);
  } finally {
    await scheduler.stop();
  }
}, 20_000);

it('overlap queue: a waiting run is released as soon as the hub says the running one ended', async () => {
  const { workspaceId, flow } = await deployedFlow(store);
  const hub = new LocalEventHub();
  const running = await store.createRun({
    workspaceId,
    flowId: flow.id,
    trigger: 'manual'
  });
  await store.transitionRun(running.id, 'Running', { from: 'Pending' });
  const due = await store.createRun({
    workspaceId,
    flowId: flow.id,
    trigger: 'manual',
    state: 'Scheduled',
    scheduledAt: new Date(Date.now() - 1000)
  });
  // Long recheck and Late times: only the hub can bring the release about within the test.
  const scheduler = new Scheduler({
    store,
    hub,
    lookAheadMs: 60_000,
    lateAfterMs: 60_000,
    waitingRecheckMs: 60_000
  });
  try {
    expect(await scheduler.start()).toMatchObject({ released: 0, waiting: 1 });
    const released = collectEvents(hub, workspaceId, events =>
      events.some(
        e =>
          e.flowRunId === due.id &&
          e.type === 'flow_run.state' &&
          e.payload.to === 'Pending'
      )
    );
    await store.transitionRun(running.id, 'Completed', { from: 'Running' });
    hub.notify(workspaceId);
    await released;
    expect((await store.getRunById(due.id))!.state).toBe('Pending');
  } finally {
    await scheduler.stop();
  }
}, 20_000);
