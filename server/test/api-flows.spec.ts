import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  duplicateTaskNotebook,
  etlNotebook,
  newTenant,
  openTestStore,
  testApp,
  type TestApp,
  type TestStore
} from './support/api-fixture.js';
import { compileNotebook } from '../../src/flow/index.js';

function etlSpec() {
  const compiled = compileNotebook(etlNotebook(), { name: 'etl' });
  if (!compiled.ok) {
    throw new Error('fixture notebook must compile');
  }
  return compiled.spec;
}

function negativeRetries() {
  const spec = etlSpec();
  spec.tasks[0].retries = -1;
  return spec;
}

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

describe('GET /api/me', () => {
  it('names the workspace and the key, never the secret', async () => {
    const tenant = await newTenant(db.store);
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/me',
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      workspace: { id: tenant.workspace.id, name: tenant.workspace.name },
      key: {
        id: tenant.keyId,
        name: 'test key',
        prefix: tenant.secret.slice(0, 8)
      }
    });
    expect(res.body).not.toContain(tenant.secret);
  });
});

describe('POST /api/flows', () => {
  it('compiles the notebook and stores version 1, then version 2 under the same name', async () => {
    const tenant = await newTenant(db.store);
    const deploy = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/flows',
        headers: tenant.headers,
        payload: { name: 'etl', notebook: etlNotebook() }
      });
    const first = await deploy();
    expect(first.statusCode).toBe(201);
    const body = first.json();
    expect(body.flow).toMatchObject({
      name: 'etl',
      paused: false,
      latestVersion: 1
    });
    expect(body.flow.workspaceId).toBeUndefined();
    expect(body.version.version).toBe(1);
    expect(body.version.kernelName).toBe('python3');
    expect(
      body.version.spec.tasks.map((x: { name: string }) => x.name)
    ).toEqual(['extract', 'transform']);
    const second = await deploy();
    expect(second.statusCode).toBe(201);
    expect(second.json().flow.id).toBe(body.flow.id);
    expect(second.json().version.version).toBe(2);
  });

  it('accepts a compiled spec instead of a notebook, with a kernel name', async () => {
    const tenant = await newTenant(db.store);
    const compiled = compileNotebook(etlNotebook(), { name: 'etl' });
    if (!compiled.ok) {
      throw new Error('fixture notebook must compile');
    }
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/flows',
      headers: tenant.headers,
      payload: {
        name: 'etl',
        spec: { ...compiled.spec, hash: 'stale' },
        kernelName: 'python3-x'
      }
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().version.kernelName).toBe('python3-x');
    // The server owns the hash: a stale one is replaced by the spec's own.
    expect(res.json().version.spec.hash).toBe(compiled.spec.hash);
  });

  it('refuses a spec whose tasks depend on an unknown task, naming the task', async () => {
    const tenant = await newTenant(db.store);
    const compiled = compileNotebook(etlNotebook(), { name: 'etl' });
    if (!compiled.ok) {
      throw new Error('fixture notebook must compile');
    }
    const spec = structuredClone(compiled.spec);
    spec.tasks[1].upstream = ['nowhere'];
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/flows',
      headers: tenant.headers,
      payload: { name: 'etl', spec }
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid-flow');
    expect(res.json().problems[0]).toMatchObject({
      code: 'unknown-dependency',
      taskName: 'transform'
    });
  });

  it('lists every problem of a bad notebook, naming the cells', async () => {
    const tenant = await newTenant(db.store);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/flows',
      headers: tenant.headers,
      payload: { name: 'bad', notebook: duplicateTaskNotebook() }
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error).toBe('invalid-flow');
    expect(body.message).toMatch(/problem/);
    const cells = body.problems.map((p: { cellId?: string }) => p.cellId);
    expect(cells).toEqual(
      expect.arrayContaining(['first-load', 'second-load'])
    );
    for (const problem of body.problems) {
      expect(problem.code).toBe('duplicate-task-name');
    }
    // Nothing was deployed.
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/flows',
      headers: tenant.headers
    });
    expect(list.json().flows).toEqual([]);
  });

  it.each([
    ['no name', { notebook: etlNotebook() }, 'name', /"name" is required/],
    ['an empty name', { name: '', notebook: etlNotebook() }, 'name', /"name"/],
    [
      'a number as name',
      { name: 7, notebook: etlNotebook() },
      'name',
      /must be string/
    ],
    ['neither notebook nor spec', { name: 'x' }, 'notebook', /exactly one/],
    [
      'both notebook and spec',
      { name: 'x', notebook: etlNotebook(), spec: etlSpec() },
      'spec',
      /exactly one/
    ],
    [
      'a string as notebook',
      { name: 'x', notebook: 'not json' },
      'notebook',
      /must be object/
    ],
    [
      'a kernel name with a space',
      { name: 'x', notebook: etlNotebook(), kernelName: 'py thon' },
      'kernelName',
      /pattern/
    ],
    [
      'an unknown field',
      { name: 'x', notebook: etlNotebook(), color: 'red' },
      'color',
      /not allowed/
    ],
    [
      'a spec without parameters',
      { name: 'x', spec: { version: 1, name: 'x' } },
      'spec.parameters',
      /required/
    ],
    [
      'a spec task with negative retries',
      { name: 'x', spec: negativeRetries() },
      'spec.tasks.0.retries',
      />= 0/
    ]
  ])(
    'refuses %s with 400 naming the field',
    async (_label, payload, field, message) => {
      const tenant = await newTenant(db.store);
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/flows',
        headers: tenant.headers,
        payload
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad-request', field });
      expect(res.json().message).toMatch(message);
    }
  );

  it('refuses malformed JSON with 400', async () => {
    const tenant = await newTenant(db.store);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/flows',
      headers: { ...tenant.headers, 'content-type': 'application/json' },
      payload: '{"name": '
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('bad-request');
  });
});

describe('GET, PATCH and DELETE /api/flows/:flowId', () => {
  it('reads, pauses, lists and deletes a flow', async () => {
    const tenant = await newTenant(db.store);
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/flows',
      headers: tenant.headers,
      payload: { name: 'etl', notebook: etlNotebook() }
    });
    const flowId = created.json().flow.id as string;

    const one = await t.app.inject({
      method: 'GET',
      url: `/api/flows/${flowId}`,
      headers: tenant.headers
    });
    expect(one.statusCode).toBe(200);
    expect(one.json().version.version).toBe(1);
    expect(
      one.json().version.spec.parameters.map((p: { name: string }) => p.name)
    ).toEqual(['url', 'limit']);

    const paused = await t.app.inject({
      method: 'PATCH',
      url: `/api/flows/${flowId}`,
      headers: tenant.headers,
      payload: { paused: true }
    });
    expect(paused.statusCode).toBe(200);
    expect(paused.json().flow.paused).toBe(true);

    const badPatch = await t.app.inject({
      method: 'PATCH',
      url: `/api/flows/${flowId}`,
      headers: tenant.headers,
      payload: { paused: 'maybe' }
    });
    expect(badPatch.statusCode).toBe(400);
    expect(badPatch.json()).toMatchObject({
      error: 'bad-request',
      field: 'paused'
    });

    const list = await t.app.inject({
      method: 'GET',
      url: '/api/flows',
      headers: tenant.headers
    });
    expect(list.json().flows).toEqual([
      expect.objectContaining({ id: flowId, paused: true })
    ]);

    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/api/flows/${flowId}`,
      headers: tenant.headers
    });
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    const gone = await t.app.inject({
      method: 'GET',
      url: `/api/flows/${flowId}`,
      headers: tenant.headers
    });
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual({
      error: 'not-found',
      message: `Flow ${flowId} not found`
    });
    const again = await t.app.inject({
      method: 'DELETE',
      url: `/api/flows/${flowId}`,
      headers: tenant.headers
    });
    expect(again.statusCode).toBe(404);
  });
});

describe('PATCH /api/flows/:flowId/settings', () => {
  it("sets the flow's automatic retries of crashed runs, within bounds, 400 naming the field", async () => {
    const tenant = await newTenant(db.store);
    const deployed = await t.app.inject({
      method: 'POST',
      url: '/api/flows',
      headers: tenant.headers,
      payload: { name: 'etl', notebook: etlNotebook() }
    });
    const flowId = deployed.json().flow.id as string;
    expect(deployed.json().flow).toMatchObject({ retries: 0, retryDelay: 0 });
    const patch = (payload: unknown, id = flowId) =>
      t.app.inject({
        method: 'PATCH',
        url: `/api/flows/${id}/settings`,
        headers: tenant.headers,
        payload: payload as Record<string, unknown>
      });

    const set = await patch({ retries: 2, retryDelay: 30 });
    expect(set.statusCode).toBe(200);
    expect(set.json().flow).toMatchObject({ retries: 2, retryDelay: 30 });
    // An absent field stays as it is.
    expect((await patch({ retries: 10 })).json().flow).toMatchObject({
      retries: 10,
      retryDelay: 30
    });
    const read = await t.app.inject({
      method: 'GET',
      url: `/api/flows/${flowId}`,
      headers: tenant.headers
    });
    expect(read.json().flow).toMatchObject({ retries: 10, retryDelay: 30 });

    for (const [payload, field] of [
      [{ retries: 11 }, 'retries'],
      [{ retries: -1 }, 'retries'],
      [{ retries: 1.5 }, 'retries'],
      [{ retryDelay: 3601 }, 'retryDelay'],
      [{ retries: 1, other: 1 }, 'other']
    ] as const) {
      const res = await patch(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad-request', field });
    }
    expect((await patch({ retries: 1 }, 'no-such-flow')).statusCode).toBe(404);
  });
});
