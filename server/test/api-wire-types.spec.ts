/**
 * The lab's and the CLI's types are derived from src/api/wire-schemas.ts, read as closed objects (the
 * server serialises only the properties a schema lists). This checks the server's real answers against
 * those schemas read the same way: a route that answers with a schema of its own (a field more, a
 * required field less, another type) drifts from what the clients are typed with, and fails here.
 */
import { randomBytes } from 'node:crypto';

import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import * as wire from '../../src/api/wire-schemas.js';
import { NotificationService } from '../src/notifications/service.js';
import { SecretBox } from '../src/secrets/secret-box.js';
import { WorkspaceSecrets } from '../src/secrets/workspace-secrets.js';
import {
  etlNotebook,
  newTenant,
  openTestStore,
  testApp,
  type Tenant,
  type TestApp,
  type TestStore
} from './support/api-fixture.js';
import { deployEtl, endRun } from './support/notify-fixture.js';

let db: TestStore;
let t: TestApp;
let tenant: Tenant;

beforeAll(async () => {
  db = await openTestStore();
  const secrets = new WorkspaceSecrets(
    db.store,
    new SecretBox(randomBytes(32))
  );
  const notifications = new NotificationService(db.store, secrets, {
    timeoutMs: 1000,
    smtp: null,
    publicUrl: null
  });
  t = await testApp(db.store, { secrets, notifications });
  tenant = await newTenant(db.store);
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

/** A schema with `additionalProperties: false` on every object that does not say otherwise. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) {
    return schema.map(closed);
  }
  if (!schema || typeof schema !== 'object') {
    return schema;
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] =
      key === 'properties'
        ? Object.fromEntries(
            Object.entries(value as object).map(([k, v]) => [k, closed(v)])
          )
        : key === 'items'
          ? closed(value)
          : value;
  }
  if (out.type === 'object' && !('additionalProperties' in out)) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats.default(ajv);
const validators = new Map<object, ValidateFunction>();

/** Fails with ajv's errors unless `value` is what `schema` (closed) allows. */
function expectWire(schema: object, value: unknown, what: string): void {
  let validate = validators.get(schema);
  if (!validate) {
    validate = ajv.compile(closed(schema) as object);
    validators.set(schema, validate);
  }
  expect(validate(value) ? [] : validate.errors, what).toEqual([]);
}

async function call(method: string, url: string, payload?: unknown) {
  const res = await t.app.inject({
    method: method as 'GET',
    url,
    headers: tenant.headers,
    ...(payload === undefined ? {} : { payload: payload as object })
  });
  expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
  return res.json();
}

describe('the API answers with the shared wire schemas', () => {
  it('flows, versions, runs with task runs and attempts, logs, schedules, overlap, secrets, me, workers and events', async () => {
    expectWire(wire.meSchema, await call('GET', '/api/me'), 'me');

    const deployed = await call('POST', '/api/flows', {
      name: 'etl',
      notebook: etlNotebook()
    });
    expectWire(wire.flowSchema, deployed.flow, 'deployed flow');
    expectWire(wire.flowVersionSchema, deployed.version, 'deployed version');
    const flowId: string = deployed.flow.id;

    const got = await call('GET', `/api/flows/${flowId}`);
    expectWire(wire.flowSchema, got.flow, 'flow');
    expectWire(wire.flowVersionSchema, got.version, 'version');

    const created = await call('POST', `/api/flows/${flowId}/schedules`, {
      kind: 'interval',
      every: 3600
    });
    expectWire(wire.scheduleSchema, created.schedule, 'created schedule');
    const listed = await call('GET', `/api/flows/${flowId}/schedules`);
    expect(listed.schedules).toHaveLength(1);
    listed.schedules.forEach((s: unknown) =>
      expectWire(wire.scheduleSchema, s, 'listed schedule')
    );
    expectWire(wire.overlapSchema, listed.overlap, 'overlap');
    expectWire(
      wire.overlapSchema,
      await call('PATCH', `/api/flows/${flowId}/overlap`, {
        overlap: 'parallel',
        maxConcurrent: 2
      }),
      'overlap set'
    );

    const flows = await call('GET', '/api/flows');
    expect(flows.flows).toHaveLength(1);
    // The overlap policy is part of a flow's answer, and a listing says when it next runs.
    expect(flows.flows[0]).toMatchObject({
      overlap: 'parallel',
      maxConcurrent: 2,
      nextRunAt: expect.any(String)
    });
    expectWire(wire.flowSchema, flows.flows[0], 'listed flow');

    // A run with a task run that has an attempt (as a worker would record it) and one that has none.
    const runId: string = (await call('POST', `/api/flows/${flowId}/runs`, {}))
      .run.id;
    const claimed = await db.store.claimNextPendingRun({
      owner: 'test-worker',
      leaseMs: 60_000,
      workspaceId: tenant.workspace.id
    });
    expect(claimed?.id).toBe(runId);
    const [extract] = await db.store.createTaskRuns(runId, [
      'extract',
      'transform'
    ]);
    const { attempt } = await db.store.transitionTaskRun(extract.id, 'Running');
    await db.store.saveAttemptOutputs(
      attempt!.id,
      [{ output_type: 'stream', name: 'stdout', text: 'hello\n' }],
      false
    );
    await db.store.transitionTaskRun(extract.id, 'Completed');
    await db.store.appendLogLines([
      {
        flowRunId: runId,
        taskName: 'extract',
        attempt: 1,
        stream: 'stdout',
        text: 'hello'
      }
    ]);

    const run = (await call('GET', `/api/runs/${runId}`)).run;
    expect(run.taskRuns[0].attempts).toHaveLength(1);
    expectWire(wire.flowRunDetailSchema, run, 'run detail');
    const runs = await call('GET', `/api/runs?flowId=${flowId}`);
    expect(runs.runs).toHaveLength(1);
    expectWire(wire.flowRunSchema, runs.runs[0], 'listed run');
    const lines = (await call('GET', `/api/runs/${runId}/logs`)).lines;
    expect(lines).toHaveLength(1);
    expectWire(wire.logLineSchema, lines[0], 'log line');

    expectWire(
      wire.secretSchema,
      await call('PUT', '/api/secrets/API_TOKEN', { value: 'v' }),
      'secret set'
    );
    const secrets = (await call('GET', '/api/secrets')).secrets;
    expect(secrets).toHaveLength(1);
    expectWire(wire.secretSchema, secrets[0], 'listed secret');

    (await call('GET', '/api/workers')).workers.forEach((w: unknown) =>
      expectWire(wire.workerSchema, w, 'worker')
    );

    const events = (await call('GET', `/api/events?runId=${runId}`)).events;
    expect(events.length).toBeGreaterThan(0);
    events.forEach((e: unknown) => expectWire(wire.eventSchema, e, 'event'));
  });

  it('notification rules, test answers and deliveries', async () => {
    const flow = await deployEtl(db.store, tenant.workspace.id, 'notified');
    const rule = await call('POST', '/api/notifications/rules', {
      flowId: flow.id,
      events: ['Failed'],
      kind: 'slack',
      // Nothing listens there: the test answer and the delivery carry an error.
      url: 'http://127.0.0.1:9/services/T/B/X'
    });
    expectWire(wire.notificationRuleSchema, rule, 'created rule');
    (await call('GET', '/api/notifications/rules')).rules.forEach(
      (r: unknown) => expectWire(wire.notificationRuleSchema, r, 'listed rule')
    );
    const tested = await call(
      'POST',
      `/api/notifications/rules/${rule.id}/test`
    );
    expect(tested.delivered).toBe(false);
    expectWire(wire.notificationRuleSchema, tested.rule, 'tested rule');
    await endRun(db.store, tenant.workspace.id, flow.id);
    const { deliveries } = await call('GET', '/api/notifications/deliveries');
    expect(deliveries).toHaveLength(1);
    expectWire(wire.notificationDeliverySchema, deliveries[0], 'delivery');
  });

  it('catches a drift: an answer with a field the schema does not list, or without a required one', () => {
    const flow = {
      id: 'f',
      name: 'n',
      paused: false,
      latestVersion: 1,
      overlap: 'queue',
      maxConcurrent: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z'
    };
    const validate = ajv.compile(closed(wire.flowSchema) as object);
    expect(validate(flow)).toBe(true);
    expect(validate({ ...flow, surprise: 1 })).toBe(false);
    const { overlap: _, ...withoutOverlap } = flow;
    expect(validate(withoutOverlap)).toBe(false);
  });
});
