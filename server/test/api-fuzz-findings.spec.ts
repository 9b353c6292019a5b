/**
 * What the Schemathesis fuzz (scripts/test-api-fuzz.sh) found, kept from coming back: the executed
 * notebook's 200 is in the OpenAPI document with its media type; a body the route does without is
 * not a required requestBody; and a method no route takes answers 405 (or 404) even when Fastify
 * refuses the request before routing it (QUERY without a Content-Type).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  etlNotebook,
  newTenant,
  openTestStore,
  testApp,
  type Tenant,
  type TestApp,
  type TestStore
} from './support/api-fixture.js';

interface Operation {
  requestBody?: { required: boolean };
  responses: Record<string, { content?: Record<string, unknown> }>;
}

let db: TestStore;
let t: TestApp;
let tenant: Tenant;
let flowId: string;
let paths: Record<string, Record<string, Operation>>;

beforeAll(async () => {
  db = await openTestStore();
  t = await testApp(db.store);
  tenant = await newTenant(db.store);
  const deployed = await t.app.inject({
    method: 'POST',
    url: '/api/flows',
    headers: tenant.headers,
    payload: { name: 'etl', notebook: etlNotebook() }
  });
  flowId = deployed.json().flow.id;
  paths = (
    await t.app.inject({ method: 'GET', url: '/api/openapi.json' })
  ).json().paths;
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

describe('the OpenAPI document says what the routes do', () => {
  it('documents the executed notebook download as a 200 of application/x-ipynb+json', async () => {
    const download = paths['/api/runs/{runId}/notebook'].get;
    expect(Object.keys(download.responses['200'].content ?? {})).toEqual([
      'application/x-ipynb+json'
    ]);
    const run = await t.app.inject({
      method: 'POST',
      url: `/api/flows/${flowId}/runs`,
      headers: tenant.headers,
      payload: {}
    });
    const runId = run.json().run.id;
    await db.store.saveExecutedNotebook(runId, etlNotebook());
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/runs/${runId}/notebook`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ipynb\+json/);
    expect(JSON.parse(res.body)).toEqual(etlNotebook());
  });

  it('marks a body optional where the route takes none, required elsewhere', async () => {
    expect(paths['/api/flows/{flowId}/runs'].post.requestBody?.required).toBe(
      false
    );
    expect(paths['/api/flows'].post.requestBody?.required).toBe(true);
    const bare = await t.app.inject({
      method: 'POST',
      url: `/api/flows/${flowId}/runs`,
      headers: tenant.headers
    });
    expect(bare.statusCode).toBe(201);
  });
});

describe('a method no route takes', () => {
  it('QUERY without a Content-Type on a known path is 405 with Allow, not 400', async () => {
    const res = await t.app.inject({
      method: 'QUERY' as 'GET',
      url: `/api/flows/${flowId}`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(405);
    expect(res.json()).toMatchObject({ error: 'method-not-allowed' });
    expect(String(res.headers.allow)).toMatch(/GET/);
  });

  it('QUERY on an unknown path is 404 in the error shape', async () => {
    const res = await t.app.inject({
      method: 'QUERY' as 'GET',
      url: '/api/nothing-here',
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'not-found' });
  });

  it('routed requests keep their own 4xx (a bad JSON body is still 400)', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/flows',
      headers: { ...tenant.headers, 'content-type': 'application/json' },
      payload: '{"name":'
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'bad-request' });
  });
});
