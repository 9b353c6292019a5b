/**
 * Numbers without bounds, over the API and the CLI: values past the bounds of src/flow/limits.ts are
 * refused with 400 naming the field and nothing is stored; and a bad value already in the store (a row
 * written before the bounds) never breaks a listing.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { scheduleFromOptions } from '../src/cli/deploy-schedule.js';
import { schedules } from '../src/store/schema.js';
import type { Store } from '../src/store/store.js';
import {
  codeCell,
  notebookOf,
  openTestStore,
  testApp,
  type TestApp,
  type TestStore
} from './support/api-fixture.js';
import { deployedFlow } from './support/scheduler-fixture.js';

let db: TestStore;
let t: TestApp;
beforeAll(async () => {
  db = await openTestStore();
  t = await testApp(db.store);
});
afterAll(async () => {
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

/** Writes `spec` into a schedule row as is, past every check: a row from before the bounds. */
async function plantScheduleSpec(
  store: Store,
  scheduleId: string,
  spec: Record<string, unknown>
): Promise<void> {
  const runner = (
    store as unknown as {
      db: { run<T>(fn: (db: never) => Promise<T>): Promise<T> };
    }
  ).db;
  await runner.run(async (d: never) => {
    const dbx = d as unknown as {
      update(table: typeof schedules): {
        set(values: object): { where(cond: unknown): Promise<unknown> };
      };
    };
    await dbx
      .update(schedules)
      .set({ spec })
      .where(eq(schedules.id, scheduleId));
  });
}

describe('schedules past the bounds', () => {
  it('refuses every interval past 366 days with 400 naming "every", and stores nothing', async () => {
    const { flow, call, workspaceId } = await flowWithKey();
    for (const every of ['999999999d', '367d', 1e30, 2 ** 53, 1e308]) {
      const res = await call('POST', `/api/flows/${flow.id}/schedules`, {
        kind: 'interval',
        every
      });
      expect(res.statusCode, String(every)).toBe(400);
      expect(res.json()).toMatchObject({
        error: 'bad-request',
        field: 'every'
      });
    }
    expect(await db.store.listSchedules(workspaceId, flow.id)).toEqual([]);
    expect((await call('GET', '/api/flows')).statusCode).toBe(200);
  });

  it('refuses one in preview and in a change, naming the field', async () => {
    const { flow, call } = await flowWithKey();
    const preview = await call('POST', '/api/schedules/preview', {
      schedule: { kind: 'interval', every: '999999999d' }
    });
    expect(preview.statusCode).toBe(400);
    expect(preview.json()).toMatchObject({ field: 'schedule.every' });
    const created = await call('POST', `/api/flows/${flow.id}/schedules`, {
      kind: 'interval',
      every: 60
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().schedule.id;
    const change = await call('PATCH', `/api/schedules/${id}`, {
      every: 1e30
    });
    expect(change.statusCode).toBe(400);
    expect(change.json()).toMatchObject({ field: 'every' });
    expect(
      (await call('GET', `/api/schedules/${id}`)).json().schedule.every
    ).toBe(60);
  });

  it('lists a stored schedule whose next time is invalid with no next runs and a problem', async () => {
    const { flow, call } = await flowWithKey();
    const created = await call('POST', `/api/flows/${flow.id}/schedules`, {
      kind: 'interval',
      every: 60
    });
    const id = created.json().schedule.id;
    await plantScheduleSpec(db.store, id, {
      kind: 'interval',
      every: 999999999 * 86400
    });
    const flows = await call('GET', '/api/flows');
    expect(flows.statusCode).toBe(200);
    expect(
      flows.json().flows.find((f: { id: string }) => f.id === flow.id)
    ).toMatchObject({ nextRunAt: null });

    const list = await call('GET', `/api/flows/${flow.id}/schedules`);
    expect(list.statusCode).toBe(200);
    const [listed] = list.json().schedules;
    expect(listed).toMatchObject({ id, nextRuns: [] });
    expect(listed.problems).toEqual([
      expect.objectContaining({ field: 'every' })
    ]);
    const one = await call('GET', `/api/schedules/${id}`);
    expect(one.statusCode).toBe(200);
    expect(one.json().schedule.nextRuns).toEqual([]);

    // Not even a number, or a cron row with no expression.
    await plantScheduleSpec(db.store, id, { kind: 'interval', every: 'soon' });
    expect(
      (await call('GET', `/api/flows/${flow.id}/schedules`)).statusCode
    ).toBe(200);
    expect((await call('GET', '/api/flows')).statusCode).toBe(200);
    await plantScheduleSpec(db.store, id, { kind: 'cron' });
    expect(
      (await call('GET', `/api/flows/${flow.id}/schedules`)).statusCode
    ).toBe(200);
    expect((await call('GET', '/api/flows')).statusCode).toBe(200);
  });
});

describe('the overlap policy past the bounds', () => {
  it('refuses maxConcurrent past 1000 with 400 naming the field', async () => {
    const { flow, call } = await flowWithKey();
    for (const maxConcurrent of [1001, 2147483648, 1e308]) {
      const res = await call('PATCH', `/api/flows/${flow.id}/overlap`, {
        overlap: 'parallel',
        maxConcurrent
      });
      expect(res.statusCode, String(maxConcurrent)).toBe(400);
      expect(res.json()).toMatchObject({
        error: 'bad-request',
        field: 'maxConcurrent'
      });
    }
    const ok = await call('PATCH', `/api/flows/${flow.id}/overlap`, {
      overlap: 'parallel',
      maxConcurrent: 1000
    });
    expect(ok.statusCode).toBe(200);
    await expect(
      db.store.setFlowOverlap(
        (await db.store.getFlow(flow.workspaceId, flow.id))!.workspaceId,
        flow.id,
        'parallel',
        2147483648
      )
    ).rejects.toThrow(/at most 1000/);
  });
});

describe('task settings past the bounds', () => {
  it('a notebook deploy names the cell and the field', async () => {
    const { call } = await flowWithKey();
    const res = await call('POST', '/api/flows', {
      name: 'bounded',
      notebook: notebookOf([
        codeCell('%%task a --retry-delay 99999999999\nx = 1', {}, 'cell-a')
      ])
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().problems).toEqual([
      expect.objectContaining({
        code: 'invalid-retry-delay',
        cellId: 'cell-a',
        cellIndex: 0
      })
    ]);
  });

  it('a spec deploy refuses each number past its bound, naming the field', async () => {
    const { call } = await flowWithKey();
    const task = {
      name: 'a',
      cellId: 'a',
      cellIndex: 0,
      code: 'x = 1',
      setup: [],
      upstream: [],
      retries: 0,
      retryDelay: 0,
      backoff: 1,
      timeout: null
    };
    const cases: [Record<string, unknown>, string][] = [
      [{ retries: 101 }, 'spec.tasks.0.retries'],
      [{ retryDelay: 99999999999 }, 'spec.tasks.0.retryDelay'],
      [{ retryDelay: 1e308 }, 'spec.tasks.0.retryDelay'],
      [{ backoff: 11 }, 'spec.tasks.0.backoff'],
      [{ timeout: 1e308 }, 'spec.tasks.0.timeout'],
      [{ timeout: 0 }, 'spec.tasks.0.timeout']
    ];
    for (const [settings, field] of cases) {
      const res = await call('POST', '/api/flows', {
        name: 'bounded-spec',
        spec: {
          version: 1,
          name: 'bounded-spec',
          parameters: [],
          parametersCell: null,
          tasks: [{ ...task, ...settings }],
          teardown: []
        }
      });
      expect(res.statusCode, JSON.stringify(settings)).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad-request', field });
    }
  });
});

describe('numbers in query strings', () => {
  it('refuses event ids past what the store holds, naming the field', async () => {
    const { call } = await flowWithKey();
    const res = await call('GET', '/api/events?after=100000000000000000000');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: 'after' });
  });
});

describe('cellflow deploy --every', () => {
  it('refuses an interval past 366 days, naming the option', () => {
    const result = scheduleFromOptions({ every: '999999999d', param: {} });
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.message).toMatch(
      /^--every: .*at most 366 days/
    );
  });
});
