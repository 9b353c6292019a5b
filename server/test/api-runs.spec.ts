import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RunController } from '../src/runs/controller.js';
import type { Store } from '../src/store/store.js';
import {
  etlNotebook,
  newTenant,
  openTestStore,
  testApp,
  type Tenant,
  type TestApp,
  type TestStore
} from './support/api-fixture.js';

/** Records what the API asked of the run service; `running` says which runs it "executes" here. */
class RecordingController implements RunController {
  wakes = 0;
  cancelled: string[] = [];
  running = new Set<string>();
  wake(): void {
    this.wakes++;
  }
  async cancel(runId: string): Promise<boolean> {
    this.cancelled.push(runId);
    return this.running.has(runId);
  }
}

let db: TestStore;
let t: TestApp;
let controller: RecordingController;

beforeAll(async () => {
  db = await openTestStore();
  controller = new RecordingController();
  t = await testApp(db.store, { runs: controller });
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

async function deploy(tenant: Tenant): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/flows',
    headers: tenant.headers,
    payload: { name: 'etl', notebook: etlNotebook() }
  });
  expect(res.statusCode).toBe(201);
  return res.json().flow.id;
}

async function startRun(tenant: Tenant, flowId: string, parameters?: unknown) {
  return t.app.inject({
    method: 'POST',
    url: `/api/flows/${flowId}/runs`,
    headers: tenant.headers,
    payload: parameters === undefined ? {} : { parameters }
  });
}

/** Takes a Pending run to Running as a worker would. */
async function claim(store: Store, workspaceId: string) {
  const run = await store.claimNextPendingRun({
    owner: 'test-worker',
    leaseMs: 60_000,
    workspaceId
  });
  if (!run) {
    throw new Error('expected a Pending run to claim');
  }
  return run;
}

describe('POST /api/flows/:flowId/runs', () => {
  it('creates a Pending manual run with defaults and overrides resolved, and wakes the run service', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const wakes = controller.wakes;
    const res = await startRun(tenant, flowId, { limit: '25' });
    expect(res.statusCode).toBe(201);
    const { run } = res.json();
    expect(run).toMatchObject({
      flowId,
      flowVersion: 1,
      state: 'Pending',
      trigger: 'manual',
      parameters: { url: 'http://127.0.0.1/users', limit: 25 }
    });
    expect(run.workspaceId).toBeUndefined();
    expect(run.leaseOwner).toBeUndefined();
    expect(controller.wakes).toBe(wakes + 1);
  });

  it('accepts a request without a body', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/flows/${flowId}/runs`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().run.parameters).toEqual({
      url: 'http://127.0.0.1/users',
      limit: 10
    });
  });

  it('accepts values for a notebook without a parameters cell, as papermill does, saying so in warnings', async () => {
    const tenant = await newTenant(db.store);
    const notebook = etlNotebook() as {
      cells: { metadata?: { tags?: string[] } }[];
    };
    notebook.cells = notebook.cells.filter(
      c => !(c.metadata?.tags ?? []).includes('parameters')
    );
    const deployed = await t.app.inject({
      method: 'POST',
      url: '/api/flows',
      headers: tenant.headers,
      payload: { name: 'plain', notebook }
    });
    expect(deployed.statusCode).toBe(201);
    const res = await startRun(tenant, deployed.json().flow.id, {
      msg: 'Hello',
      n: 3
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().run.parameters).toEqual({ msg: 'Hello', n: 3 });
    expect(res.json().warnings).toEqual([
      'parameter "msg" is not declared by the notebook (it has no parameters cell): injected at the top, as papermill does',
      'parameter "n" is not declared by the notebook (it has no parameters cell): injected at the top, as papermill does'
    ]);
    // A name Python cannot take is still refused, naming it.
    const bad = await startRun(tenant, deployed.json().flow.id, {
      'not ok': 1
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('"not ok"');
  });

  it.each([
    [{ colour: 'red' }, 'parameters.colour', /unknown parameter "colour"/],
    [
      { limit: 'ten' },
      'parameters.limit',
      /parameter "limit" must be a whole number/
    ],
    [{ url: 5 }, 'parameters.url', /parameter "url" must be a string/]
  ])(
    'refuses parameters %j with 400 naming %s',
    async (parameters, field, message) => {
      const tenant = await newTenant(db.store);
      const flowId = await deploy(tenant);
      const res = await startRun(tenant, flowId, parameters);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad-request', field });
      expect(res.json().message).toMatch(message);
      const runs = await t.app.inject({
        method: 'GET',
        url: '/api/runs',
        headers: tenant.headers
      });
      expect(runs.json().runs).toEqual([]);
    }
  );

  it('refuses parameters that are not an object, and unknown body fields', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const notObject = await startRun(tenant, flowId, [1, 2]);
    expect(notObject.statusCode).toBe(400);
    expect(notObject.json()).toMatchObject({ field: 'parameters' });
    const extra = await t.app.inject({
      method: 'POST',
      url: `/api/flows/${flowId}/runs`,
      headers: tenant.headers,
      payload: { params: {} }
    });
    expect(extra.statusCode).toBe(400);
    expect(extra.json()).toMatchObject({ field: 'params' });
  });
});

describe('GET /api/runs and /api/runs/:runId', () => {
  it('pages runs newest first, filtered by flow and state', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await startRun(tenant, flowId)).json().run.id);
    }
    const first = await t.app.inject({
      method: 'GET',
      url: `/api/runs?flowId=${flowId}&limit=2`,
      headers: tenant.headers
    });
    expect(first.statusCode).toBe(200);
    expect(first.json().runs.map((r: { id: string }) => r.id)).toEqual([
      ids[2],
      ids[1]
    ]);
    const cursor = first.json().nextCursor;
    expect(cursor).toEqual(expect.any(String));
    const second = await t.app.inject({
      method: 'GET',
      url: `/api/runs?limit=2&cursor=${cursor}`,
      headers: tenant.headers
    });
    expect(second.json()).toEqual({
      runs: [expect.objectContaining({ id: ids[0] })],
      nextCursor: null
    });

    await db.store.transitionRun(ids[0], 'Cancelled');
    const cancelled = await t.app.inject({
      method: 'GET',
      url: '/api/runs?state=Cancelled',
      headers: tenant.headers
    });
    expect(cancelled.json().runs.map((r: { id: string }) => r.id)).toEqual([
      ids[0]
    ]);
    const either = await t.app.inject({
      method: 'GET',
      url: '/api/runs?state=Cancelled&state=Pending',
      headers: tenant.headers
    });
    expect(either.json().runs).toHaveLength(3);
  });

  it('filters runs by trigger and by a time range', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const manual = (await startRun(tenant, flowId)).json().run.id;
    await db.store.transitionRun(manual, 'Cancelled');
    const retry = await t.app.inject({
      method: 'POST',
      url: `/api/runs/${manual}/retry`,
      headers: tenant.headers
    });
    const list = async (query: string) => {
      const res = await t.app.inject({
        method: 'GET',
        url: `/api/runs?flowId=${flowId}&${query}`,
        headers: tenant.headers
      });
      expect(res.statusCode).toBe(200);
      return res.json().runs.map((r: { id: string }) => r.id);
    };
    expect(await list('trigger=retry')).toEqual([retry.json().run.id]);
    expect(await list('trigger=manual&trigger=scheduled')).toEqual([manual]);
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    expect(await list(`from=${hourAgo}`)).toHaveLength(2);
    expect(await list(`to=${hourAgo}`)).toEqual([]);
  });

  it.each([
    ['state=Sleeping', 'state.0', /Pending/],
    ['limit=0', 'limit', /must be >= 1/],
    ['limit=many', 'limit', /integer/],
    ['cursor=abc', 'cursor', /pattern/],
    ['trigger=cron', 'trigger.0', /manual/],
    ['from=yesterday', 'from', /date-time/],
    ['colour=red', 'colour', /not allowed/]
  ])('refuses ?%s with 400 naming %s', async (query, field, message) => {
    const tenant = await newTenant(db.store);
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/runs?${query}`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'bad-request', field });
    expect(res.json().message).toMatch(message);
  });

  it('gives a run with its task runs and their attempts, outputs included', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const runId = (await startRun(tenant, flowId)).json().run.id;
    await claim(db.store, tenant.workspace.id);
    const [extract] = await db.store.createTaskRuns(runId, [
      'extract',
      'transform'
    ]);
    const { attempt } = await db.store.transitionTaskRun(extract.id, 'Running');
    const output = { output_type: 'stream', name: 'stdout', text: 'hello\n' };
    await db.store.saveAttemptOutputs(attempt!.id, [output], false);
    await db.store.transitionTaskRun(extract.id, 'Completed');

    const res = await t.app.inject({
      method: 'GET',
      url: `/api/runs/${runId}`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(200);
    const { run } = res.json();
    expect(run.state).toBe('Running');
    expect(run.taskRuns.map((x: { taskName: string }) => x.taskName)).toEqual([
      'extract',
      'transform'
    ]);
    expect(run.taskRuns[0]).toMatchObject({
      state: 'Completed',
      attemptCount: 1
    });
    expect(run.taskRuns[0].attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        state: 'Completed',
        outputs: [output]
      })
    ]);
    expect(run.taskRuns[1]).toMatchObject({
      state: 'Pending',
      attemptCount: 0,
      attempts: []
    });
  });

  it('answers 404 for an unknown run', async () => {
    const tenant = await newTenant(db.store);
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/runs/nope',
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error: 'not-found',
      message: 'Run nope not found'
    });
  });
});

describe('POST /api/runs/:runId/cancel', () => {
  it('cancels a Pending run at once, and refuses a second cancel with 409', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const runId = (await startRun(tenant, flowId)).json().run.id;
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/runs/${runId}/cancel`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().run).toMatchObject({
      id: runId,
      state: 'Cancelled',
      stateReason: 'Cancelled by user'
    });
    expect(controller.cancelled).not.toContain(runId);
    const again = await t.app.inject({
      method: 'POST',
      url: `/api/runs/${runId}/cancel`,
      headers: tenant.headers
    });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: 'conflict' });
    expect(again.json().message).toMatch(/already ended \(Cancelled\)/);
  });

  it('asks the run service to interrupt a Running run it executes, and leaves the state to it', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const runId = (await startRun(tenant, flowId)).json().run.id;
    await claim(db.store, tenant.workspace.id);
    controller.running.add(runId);
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/runs/${runId}/cancel`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(200);
    expect(controller.cancelled).toContain(runId);
    expect(res.json().run.state).toBe('Running');
    expect((await db.store.getRunById(runId))!.state).toBe('Running');
  });

  it('marks a Running run that this process does not execute Cancelled in the store', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const runId = (await startRun(tenant, flowId)).json().run.id;
    await claim(db.store, tenant.workspace.id);
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/runs/${runId}/cancel`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(200);
    expect(controller.cancelled).toContain(runId);
    expect(res.json().run.state).toBe('Cancelled');
  });
});

describe('POST /api/runs/:runId/retry', () => {
  it('creates a new Pending run with the same version and parameters, linked to the old one', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const failedId = (await startRun(tenant, flowId, { limit: 3 })).json().run
      .id;
    await claim(db.store, tenant.workspace.id);
    await db.store.transitionRun(failedId, 'Failed', {
      error: 'ValueError: boom'
    });
    const wakes = controller.wakes;

    const res = await t.app.inject({
      method: 'POST',
      url: `/api/runs/${failedId}/retry`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(201);
    const { run } = res.json();
    expect(run.id).not.toBe(failedId);
    expect(run).toMatchObject({
      state: 'Pending',
      trigger: 'retry',
      flowVersion: 1,
      retryOf: failedId,
      parameters: { url: 'http://127.0.0.1/users', limit: 3 }
    });
    expect(controller.wakes).toBe(wakes + 1);
    const read = await t.app.inject({
      method: 'GET',
      url: `/api/runs/${run.id}`,
      headers: tenant.headers
    });
    expect(read.json().run.retryOf).toBe(failedId);
  });

  it('refuses to retry a run that has not failed with 409', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const runId = (await startRun(tenant, flowId)).json().run.id;
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/runs/${runId}/retry`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().message).toMatch(
      /is Pending: only Failed, Crashed, Cancelled runs can be retried/
    );
  });
});

describe('GET /api/runs/:runId/logs and /notebook', () => {
  it('gives log lines in order, by task and after an id', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const runId = (await startRun(tenant, flowId)).json().run.id;
    const lines = await db.store.appendLogLines([
      {
        flowRunId: runId,
        taskName: 'extract',
        attempt: 1,
        stream: 'stdout',
        text: 'one'
      },
      {
        flowRunId: runId,
        taskName: 'transform',
        attempt: 1,
        stream: 'stderr',
        text: 'two'
      },
      {
        flowRunId: runId,
        taskName: 'extract',
        attempt: 2,
        stream: 'stdout',
        text: 'three'
      }
    ]);
    const all = await t.app.inject({
      method: 'GET',
      url: `/api/runs/${runId}/logs`,
      headers: tenant.headers
    });
    expect(all.statusCode).toBe(200);
    expect(all.json().lines.map((l: { text: string }) => l.text)).toEqual([
      'one',
      'two',
      'three'
    ]);
    expect(all.json().lines[1]).toEqual({
      id: lines[1].id,
      task: 'transform',
      attempt: 1,
      stream: 'stderr',
      text: 'two',
      at: lines[1].at.toISOString()
    });
    const extract = await t.app.inject({
      method: 'GET',
      url: `/api/runs/${runId}/logs?task=extract&after=${lines[0].id}`,
      headers: tenant.headers
    });
    expect(extract.json().lines.map((l: { text: string }) => l.text)).toEqual([
      'three'
    ]);
    const bad = await t.app.inject({
      method: 'GET',
      url: `/api/runs/${runId}/logs?after=-1`,
      headers: tenant.headers
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('after');
  });

  it('serves the executed notebook as an .ipynb download once there is one', async () => {
    const tenant = await newTenant(db.store);
    const flowId = await deploy(tenant);
    const runId = (await startRun(tenant, flowId)).json().run.id;
    const before = await t.app.inject({
      method: 'GET',
      url: `/api/runs/${runId}/notebook`,
      headers: tenant.headers
    });
    expect(before.statusCode).toBe(404);
    expect(before.json().message).toMatch(/no executed notebook yet/);
    const executed = { ...etlNotebook(), metadata: { executed: true } };
    await db.store.saveExecutedNotebook(runId, executed);
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/runs/${runId}/notebook`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ipynb\+json/);
    expect(res.headers['content-disposition']).toBe(
      `attachment; filename="etl-${runId.slice(0, 8)}.ipynb"`
    );
    expect(JSON.parse(res.body)).toEqual(executed);
  });
});
