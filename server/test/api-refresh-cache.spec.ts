/**
 * `refreshCache` on POST /api/flows/:id/runs: recorded with the run as a flow_run.refresh_cache event
 * (what the executor reads when the run starts), absent otherwise, and a value that is not a boolean
 * refused with a 400 naming the field.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';

import { REFRESH_CACHE_EVENT } from '../src/runs/task-cache-store.js';
import {
  etlNotebook,
  newTenant,
  openTestStore,
  testApp,
  type TestApp,
  type TestStore
} from './support/api-fixture.js';

let db: TestStore;
let t: TestApp;

beforeAll(async () => {
  db = await openTestStore();
  t = await testApp(db.store, {
    runs: { wake: () => undefined, cancel: async () => false }
  });
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

it('records refreshCache with the run, and refuses a value that is not a boolean', async () => {
  const tenant = await newTenant(db.store);
  const deployed = await t.app.inject({
    method: 'POST',
    url: '/api/flows',
    headers: tenant.headers,
    payload: { name: 'etl', notebook: etlNotebook() }
  });
  expect(deployed.statusCode).toBe(201);
  const flowId = deployed.json().flow.id;
  const start = (payload: unknown) =>
    t.app.inject({
      method: 'POST',
      url: `/api/flows/${flowId}/runs`,
      headers: tenant.headers,
      payload: payload as Record<string, unknown>
    });
  const marked = async (runId: string) =>
    (
      await db.store.listEvents({
        workspaceId: tenant.workspace.id,
        flowRunId: runId
      })
    ).some(e => e.type === REFRESH_CACHE_EVENT);

  const refreshed = await start({ refreshCache: true });
  expect(refreshed.statusCode).toBe(201);
  expect(await marked(refreshed.json().run.id)).toBe(true);

  const plain = await start({ refreshCache: false });
  expect(plain.statusCode).toBe(201);
  expect(await marked(plain.json().run.id)).toBe(false);

  const bad = await start({ refreshCache: 'yes' });
  expect(bad.statusCode).toBe(400);
  expect(bad.body).toContain('refreshCache');
});
