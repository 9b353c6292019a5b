/**
 * The schedule routes over a real PGlite store: validation naming the field (nothing stored), the
 * description and next runs, pause and change removing not-started runs, delete, preview, the overlap
 * policy, auth and workspace isolation. A real scheduler shares the store, as in the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Scheduler } from '../src/scheduler/index.js';
import {
  newTenant,
  openTestStore,
  testApp,
  type TestApp,
  type TestStore
} from './support/api-fixture.js';
import { deployedFlow, runsOf } from './support/scheduler-fixture.js';

let db: TestStore;
let t: TestApp;
let scheduler: Scheduler;
beforeAll(async () => {
  db = await openTestStore();
  t = await testApp(db.store);
  // No timers: a test runs passes with tick(), after the route's nudge has asked for one.
  scheduler = new Scheduler({
    store: db.store,
    timers: false,
    lookAheadMs: 60_000
  });
});
afterAll(async () => {
  await scheduler.stop();
  await t.app.close();
  await db.close();
});

async function flowWithKey() {
  const { tenant, workspaceId, flow } = await deployedFlow(db.store);
  const call = (method: string, url: string, payload?: unknown) =>
    t.app.inject({
      method: method as 'GET',
      url,
      headers: tenant.headers,
      ...(payload !== undefined && { payload: payload as object })
    });
  return { tenant, workspaceId, flow, call };
}

describe('POST /api/flows/:flowId/schedules', () => {
  it('refuses invalid schedules with 400 naming the field, and stores nothing', async () => {
    const { flow, call, workspaceId } = await flowWithKey();
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'interval', every: '10 parsecs' }, 'every'],
      [{ kind: 'interval' }, 'every'],
      [{ kind: 'cron', expression: '* * *', timezone: 'UTC' }, 'expression'],
      [
        { kind: 'cron', expression: '*/5 * * * *', timezone: 'Moon/Base' },
        'timezone'
      ],
      [{ kind: 'cron', expression: '*/5 * * * *' }, 'timezone'],
      [{ kind: 'interval', every: 10, start: 'tomorrow' }, 'start'],
      [{ kind: 'hourly' }, 'kind'],
      [{ kind: 'interval', every: 10, missedPolicy: 'maybe' }, 'missedPolicy'],
      [
        { kind: 'interval', every: 10, parameters: { limit: 'ten' } },
        'parameters.limit'
      ],
      [
        { kind: 'interval', every: 10, parameters: { nope: 1 } },
        'parameters.nope'
      ]
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', `/api/flows/${flow.id}/schedules`, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad-request', field });
    }
    expect(await db.store.listSchedules(workspaceId, flow.id)).toEqual([]);
  });

  it('creates an interval schedule with its description and next runs; the scheduler plans it', async () => {
    const { flow, call, workspaceId } = await flowWithKey();
    const res = await call('POST', `/api/flows/${flow.id}/schedules`, {
      kind: 'interval',
      every: '10s',
      parameters: { limit: 2 }
    });
    expect(res.statusCode).toBe(201);
    const { schedule } = res.json();
    expect(schedule).toMatchObject({
      flowId: flow.id,
      kind: 'interval',
      every: 10,
      paused: false,
      parameters: { limit: 2 },
      missedPolicy: 'skip',
      revision: 1
    });
    expect(schedule.description).toMatch(/10 seconds/);
    expect(schedule.nextRuns).toHaveLength(5);
    const times = schedule.nextRuns.map((s: string) => Date.parse(s));
    expect(times[1] - times[0]).toBe(10_000);

    const tickedAt = Date.now();
    await scheduler.tick();
    const runs = await runsOf(db.store, workspaceId, flow.id);
    expect(runs.length).toBeGreaterThanOrEqual(5);
    expect(runs.every(r => r.scheduleId === schedule.id)).toBe(true);
    // Interval times fall on the schedule's grid, so the first may be due moments after the schedule
    // was made and already released (Pending) by the time the pass ran: only runs still ahead of the
    // pass must be Scheduled (a loaded machine once showed the first one released).
    const ahead = runs.filter(r => r.scheduledAt!.getTime() > tickedAt + 1000);
    expect(ahead.length).toBeGreaterThanOrEqual(4);
    expect(ahead.every(r => r.state === 'Scheduled')).toBe(true);
  });

  it('creates a cron schedule in a zone', async () => {
    const { flow, call } = await flowWithKey();
    const res = await call('POST', `/api/flows/${flow.id}/schedules`, {
      kind: 'cron',
      expression: '0 6 * * 1-5',
      timezone: 'Europe/Berlin',
      missedPolicy: 'latest'
    });
    expect(res.statusCode).toBe(201);
    const { schedule } = res.json();
    expect(schedule).toMatchObject({
      timezone: 'Europe/Berlin',
      missedPolicy: 'latest'
    });
    expect(schedule.description).toMatch(/06:00.*Europe\/Berlin/);
    // 06:00 in Berlin is 05:00 or 04:00 UTC.
    expect(schedule.nextRuns.every((s: string) => /T0[45]:00:00/.test(s))).toBe(
      true
    );
  });
});

describe('listing, changing, pausing and deleting', () => {
  it('pause removes the planned runs and stops new ones; a change replans', async () => {
    const { flow, call, workspaceId } = await flowWithKey();
    const created = (
      await call('POST', `/api/flows/${flow.id}/schedules`, {
        kind: 'interval',
        every: 20
      })
    ).json().schedule;
    await scheduler.tick();
    const planned = await runsOf(db.store, workspaceId, flow.id);
    expect(planned.length).toBeGreaterThan(0);

    const paused = await call('PATCH', `/api/schedules/${created.id}`, {
      paused: true
    });
    expect(paused.statusCode).toBe(200);
    expect(paused.json().schedule).toMatchObject({
      paused: true,
      nextRuns: [],
      every: 20
    });
    expect(paused.json().removedRuns.sort()).toEqual(
      planned.map(r => r.id).sort()
    );
    await scheduler.tick();
    expect(await runsOf(db.store, workspaceId, flow.id)).toEqual([]);

    const changed = await call('PATCH', `/api/schedules/${created.id}`, {
      paused: false,
      every: '30s'
    });
    expect(changed.json().schedule).toMatchObject({
      paused: false,
      every: 30,
      revision: 3
    });
    await scheduler.tick();
    const replanned = await runsOf(db.store, workspaceId, flow.id);
    expect(replanned.length).toBeGreaterThan(0);
    expect(replanned.every(r => r.scheduledAt!.getTime() % 30_000 === 0)).toBe(
      true
    );

    // A change to nonsense is refused and leaves the schedule as it was.
    const bad = await call('PATCH', `/api/schedules/${created.id}`, {
      kind: 'cron',
      timezone: 'UTC'
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('expression');
    expect(
      (await call('GET', `/api/schedules/${created.id}`)).json().schedule
    ).toMatchObject({
      kind: 'interval',
      every: 30,
      revision: 3
    });

    const list = await call('GET', `/api/flows/${flow.id}/schedules`);
    expect(list.json()).toMatchObject({
      schedules: [{ id: created.id, every: 30, revision: 3 }],
      overlap: { overlap: 'queue', maxConcurrent: null }
    });

    expect(
      (await call('DELETE', `/api/schedules/${created.id}`)).statusCode
    ).toBe(204);
    expect(await runsOf(db.store, workspaceId, flow.id)).toEqual([]);
    expect((await call('GET', `/api/schedules/${created.id}`)).statusCode).toBe(
      404
    );
    expect(
      (await call('DELETE', `/api/schedules/${created.id}`)).statusCode
    ).toBe(404);
  });

  it('sets the overlap policy', async () => {
    const { flow, call } = await flowWithKey();
    const res = await call('PATCH', `/api/flows/${flow.id}/overlap`, {
      overlap: 'parallel',
      maxConcurrent: 3
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ overlap: 'parallel', maxConcurrent: 3 });
    const bad = await call('PATCH', `/api/flows/${flow.id}/overlap`, {
      overlap: 'stack'
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('overlap');
  });
  it("shows the flow's next run time in the flow listing, and none once paused", async () => {
    const { flow, call } = await flowWithKey();
    const listed = async () =>
      (
        (await call('GET', '/api/flows')).json().flows as {
          id: string;
          nextRunAt: string | null;
        }[]
      ).find(f => f.id === flow.id)!.nextRunAt;
    expect(await listed()).toBeNull();
    const created = await call('POST', `/api/flows/${flow.id}/schedules`, {
      kind: 'interval',
      every: 3600
    });
    const schedule = created.json().schedule;
    expect(await listed()).toBe(schedule.nextRuns[0]);
    await call('PATCH', `/api/schedules/${schedule.id}`, { paused: true });
    expect(await listed()).toBeNull();
  });
});

describe('POST /api/schedules/preview', () => {
  it("answers previewSchedule's description and runs in both zones", async () => {
    const { call } = await flowWithKey();
    const res = await call('POST', '/api/schedules/preview', {
      schedule: {
        kind: 'cron',
        expression: '30 2 * * *',
        timezone: 'Europe/Berlin'
      },
      from: '2026-03-28T12:00:00Z',
      count: 2,
      viewerZone: 'America/New_York'
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      timezone: 'Europe/Berlin',
      viewerZone: 'America/New_York'
    });
    expect(body.runs).toHaveLength(2);
    // 02:30 does not exist in Berlin on 2026-03-29 (clocks go forward): the preview says so.
    expect(body.runs[0].note).toBeTruthy();
    const bad = await call('POST', '/api/schedules/preview', {
      schedule: { kind: 'interval', every: 0 }
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('schedule.every');
  });
});

describe('auth and workspaces', () => {
  it('401 without a key; 404 for another workspace', async () => {
    const { flow, call } = await flowWithKey();
    const created = (
      await call('POST', `/api/flows/${flow.id}/schedules`, {
        kind: 'interval',
        every: 60
      })
    ).json().schedule;
    const anonymous = await t.app.inject({
      method: 'GET',
      url: `/api/flows/${flow.id}/schedules`
    });
    expect(anonymous.statusCode).toBe(401);
    const preview = await t.app.inject({
      method: 'POST',
      url: '/api/schedules/preview',
      payload: { schedule: { kind: 'interval', every: 60 } }
    });
    expect(preview.statusCode).toBe(401);

    const other = await newTenant(db.store, 'other');
    const as = (method: string, url: string, payload?: object) =>
      t.app.inject({
        method: method as 'GET',
        url,
        headers: other.headers,
        payload
      });
    expect(
      (await as('GET', `/api/flows/${flow.id}/schedules`)).statusCode
    ).toBe(404);
    expect(
      (
        await as('POST', `/api/flows/${flow.id}/schedules`, {
          kind: 'interval',
          every: 5
        })
      ).statusCode
    ).toBe(404);
    expect((await as('GET', `/api/schedules/${created.id}`)).statusCode).toBe(
      404
    );
    expect(
      (await as('PATCH', `/api/schedules/${created.id}`, { paused: true }))
        .statusCode
    ).toBe(404);
    expect(
      (await as('DELETE', `/api/schedules/${created.id}`)).statusCode
    ).toBe(404);
    expect(
      (await as('PATCH', `/api/flows/${flow.id}/overlap`, { overlap: 'skip' }))
        .statusCode
    ).toBe(404);
  });
});
