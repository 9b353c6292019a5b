/**
 * Schedule rows in the store: validated before anything is stored, changes remove not-started runs, a
 * plan from an older revision writes nothing, and overlap settings are checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nextRunTimes } from '../src/scheduler/index.js';
import { InvalidScheduleError } from '../src/store/sql/schedules.js';
import type { Store } from '../src/store/store.js';
import { openTestStore, type TestStore } from './support/api-fixture.js';
import { T0, deployedFlow, runsOf } from './support/scheduler-fixture.js';

let test: TestStore;
let store: Store;
beforeAll(async () => {
  test = await openTestStore();
  store = test.store;
});
afterAll(() => test.close());

describe('store: schedules', () => {
  it('refuses an invalid schedule naming the field, and stores nothing', async () => {
    const { workspaceId, flow } = await deployedFlow(store);
    const bad = [
      [{ kind: 'interval', every: 'soon' }, 'every'],
      [
        { kind: 'cron', expression: '61 * * * *', timezone: 'UTC' },
        'expression'
      ],
      [
        { kind: 'cron', expression: '* * * * *', timezone: 'Mars/Olympus' },
        'timezone'
      ],
      [{ kind: 'cron', expression: '* * * * *' }, 'timezone'],
      [{ kind: 'interval', every: 10, missedPolicy: 'never' }, 'missedPolicy'],
      [{ kind: 'interval', every: 10, colour: 'red' }, 'colour']
    ] as const;
    for (const [input, field] of bad) {
      const error = await store
        .createSchedule(workspaceId, flow.id, input)
        .catch(e => e);
      expect(error).toBeInstanceOf(InvalidScheduleError);
      expect((error as InvalidScheduleError).field).toBe(field);
    }
    expect(await store.listSchedules(workspaceId, flow.id)).toEqual([]);
    const events = await store.listEvents({ workspaceId });
    expect(events.filter(e => e.type.startsWith('schedule.'))).toEqual([]);
  });

  it('stores the normalised schedule, scoped to the workspace', async () => {
    const { workspaceId, flow } = await deployedFlow(store);
    const other = await deployedFlow(store);
    const schedule = await store.createSchedule(
      workspaceId,
      flow.id,
      {
        kind: 'cron',
        expression: '0 6 * * 1-5',
        timezone: 'Europe/Berlin',
        parameters: { limit: 3 },
        missedPolicy: 'latest'
      },
      new Date(T0)
    );
    expect(schedule).toMatchObject({
      flowId: flow.id,
      workspaceId,
      kind: 'cron',
      spec: {
        kind: 'cron',
        expression: '0 6 * * 1-5',
        timezone: 'Europe/Berlin'
      },
      parameters: { limit: 3 },
      missedPolicy: 'latest',
      paused: false,
      revision: 1,
      plannedUntil: new Date(T0)
    });
    expect(await store.getSchedule(workspaceId, schedule.id)).toEqual(schedule);
    expect(await store.getSchedule(other.workspaceId, schedule.id)).toBeNull();
    expect(await store.listSchedules(other.workspaceId, flow.id)).toEqual([]);
    await expect(
      store.createSchedule(other.workspaceId, flow.id, {
        kind: 'interval',
        every: 5
      })
    ).rejects.toThrow(/Flow .* not found/);
    expect(await store.deleteSchedule(other.workspaceId, schedule.id)).toBe(
      false
    );
  });

  it('a change removes the not-started runs, and a plan from the old revision writes nothing', async () => {
    const { workspaceId, flow } = await deployedFlow(store);
    const schedule = await store.createSchedule(
      workspaceId,
      flow.id,
      { kind: 'interval', every: 10 },
      new Date(T0)
    );
    const plan = (revision: number, seconds: number[]) =>
      store.planScheduledRuns({
        scheduleId: schedule.id,
        revision,
        flowVersion: 1,
        ticks: seconds.map(s => ({
          scheduledAt: new Date(T0 + s * 1000),
          parameters: {}
        })),
        plannedUntil: new Date(T0 + 30_000)
      });
    expect((await plan(1, [10, 20, 30])).created).toHaveLength(3);
    // The same ticks again: the unique key makes them no-ops.
    expect((await plan(1, [10, 20, 30])).created).toHaveLength(0);
    const [first] = await runsOf(store, workspaceId, flow.id);
    await store.transitionRun(first.id, 'Pending', { from: 'Scheduled' });

    const change = await store.updateSchedule(workspaceId, schedule.id, {
      kind: 'interval',
      every: 15
    });
    expect(change.removedRuns).toHaveLength(2);
    expect(change.schedule.revision).toBe(2);
    const left = await runsOf(store, workspaceId, flow.id);
    expect(left.map(r => r.id)).toEqual([first.id]);
    expect(await plan(1, [40])).toMatchObject({ stale: true, created: [] });
    expect(await runsOf(store, workspaceId, flow.id)).toHaveLength(1);

    const paused = await store.setSchedulePaused(
      workspaceId,
      schedule.id,
      true
    );
    expect(paused.schedule).toMatchObject({
      paused: true,
      revision: 3,
      spec: { every: 15 }
    });
    expect(await plan(3, [45])).toMatchObject({ stale: true });
    const types = (await store.listEvents({ workspaceId })).map(e => e.type);
    expect(types.filter(t => t === 'flow_run.deleted')).toHaveLength(2);
    expect(types).toContain('schedule.updated');

    expect(await store.deleteSchedule(workspaceId, schedule.id)).toBe(true);
    expect(await store.getSchedule(workspaceId, schedule.id)).toBeNull();
    // The run that was already Pending stays, unlinked.
    const [kept] = await runsOf(store, workspaceId, flow.id);
    expect(kept).toMatchObject({
      id: first.id,
      scheduleId: null,
      state: 'Pending'
    });
  });

  it("gives each flow's next run time from its active schedules", async () => {
    const { workspaceId, flow } = await deployedFlow(store);
    const now = new Date(T0);
    await store.createSchedule(
      workspaceId,
      flow.id,
      { kind: 'interval', every: 3600 },
      now
    );
    await store.createSchedule(
      workspaceId,
      flow.id,
      { kind: 'interval', every: 60 },
      now
    );
    const paused = await store.createSchedule(
      workspaceId,
      flow.id,
      { kind: 'interval', every: 1, paused: true },
      now
    );
    expect(paused.paused).toBe(true);
    expect(await store.listSchedules(workspaceId)).toHaveLength(3);
    const next = await nextRunTimes(store, workspaceId, now);
    expect(next).toEqual(new Map([[flow.id, new Date(T0 + 60_000)]]));
  });

  it('sets the overlap policy and refuses nonsense', async () => {
    const { workspaceId, flow } = await deployedFlow(store);
    expect(flow).toMatchObject({ overlap: 'queue', maxConcurrent: null });
    const updated = await store.setFlowOverlap(
      workspaceId,
      flow.id,
      'parallel',
      3
    );
    expect(updated).toMatchObject({ overlap: 'parallel', maxConcurrent: 3 });
    await expect(
      store.setFlowOverlap(workspaceId, flow.id, 'parallel', 0)
    ).rejects.toThrow(/maxConcurrent/);
  });
});
