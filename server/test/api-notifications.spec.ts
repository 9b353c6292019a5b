/**
 * /api/notifications: rules are added, listed (destinations masked), tested and removed in the key's
 * workspace only; bad input is a 400 naming the field; deliveries are listed with their outcome.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { DeliveryLoop } from '../src/notifications/delivery-loop.js';
import { NotificationService } from '../src/notifications/service.js';
import {
  newTenant,
  openTestStore,
  testApp,
  type TestApp,
  type TestStore,
  type Tenant
} from './support/api-fixture.js';
import {
  deployEtl,
  endRun,
  startReceiver,
  testSecrets,
  type Receiver
} from './support/notify-fixture.js';

let db: TestStore;
let t: TestApp;
let bare: TestApp;
let receiver: Receiver;
let service: NotificationService;

const SECRET = 'a-signing-secret';

beforeAll(async () => {
  db = await openTestStore();
  service = new NotificationService(db.store, testSecrets(db.store), {
    timeoutMs: 2000,
    smtp: null,
    publicUrl: null
  });
  t = await testApp(db.store, { notifications: service });
  bare = await testApp(db.store);
  receiver = await startReceiver();
});
afterAll(async () => {
  await Promise.all([t.app.close(), bare.app.close(), receiver.close()]);
  await db.close();
});
afterEach(() => {
  receiver.status = 200;
  receiver.received.length = 0;
});

function addRule(tenant: Tenant, body: Record<string, unknown>, app = t.app) {
  return app.inject({
    method: 'POST',
    url: '/api/notifications/rules',
    headers: tenant.headers,
    payload: body
  });
}

const webhook = () => ({
  events: ['Failed', 'Crashed'],
  kind: 'webhook',
  url: `${receiver.url}/hooks/TOKEN-IN-PATH`,
  secret: SECRET
});

describe('notification rules', () => {
  it('are added with the destination masked, listed, and removed', async () => {
    const tenant = await newTenant(db.store);
    const flow = await deployEtl(db.store, tenant.workspace.id);
    const res = await addRule(tenant, { ...webhook(), flowId: flow.id });
    expect(res.statusCode).toBe(201);
    const rule = res.json();
    expect(rule).toMatchObject({
      flowId: flow.id,
      events: ['Failed', 'Crashed'],
      kind: 'webhook',
      target: `${receiver.url}/…`
    });
    expect(res.body).not.toContain('TOKEN-IN-PATH');
    expect(res.body).not.toContain(SECRET);

    const list = await t.app.inject({
      method: 'GET',
      url: '/api/notifications/rules',
      headers: tenant.headers
    });
    expect(list.json().rules).toEqual([rule]);
    expect(list.body).not.toContain('TOKEN-IN-PATH');

    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/notifications/rules/${rule.id}`,
      headers: tenant.headers
    });
    expect(del.statusCode).toBe(204);
    const again = await t.app.inject({
      method: 'DELETE',
      url: `/api/notifications/rules/${rule.id}`,
      headers: tenant.headers
    });
    expect(again.statusCode).toBe(404);
  });

  it('are refused with a 400 naming the field', async () => {
    const tenant = await newTenant(db.store);
    const cases: [Record<string, unknown>, string][] = [
      [{ ...webhook(), events: ['Exploded'] }, 'events.0'],
      [{ ...webhook(), events: [] }, 'events'],
      [{ ...webhook(), kind: 'pager' }, 'kind'],
      [{ ...webhook(), url: 'ftp://example.org/x' }, 'url'],
      [{ ...webhook(), url: 'not a url' }, 'url'],
      [{ ...webhook(), url: `https://x.org/${'a'.repeat(3000)}` }, 'url'],
      [{ ...webhook(), secret: 'short' }, 'secret'],
      [{ ...webhook(), secret: undefined }, 'secret'],
      [{ ...webhook(), flowId: 'no-such-flow' }, 'flowId'],
      [{ ...webhook(), extra: 1 }, 'extra'],
      [
        { events: ['Failed'], kind: 'email', email: 'oncall@example.org' },
        'email'
      ],
      [
        { events: ['Failed'], kind: 'email', email: 'a@b.org, c@d.org' },
        'email'
      ]
    ];
    for (const [body, field] of cases) {
      const res = await addRule(tenant, body);
      expect({ field, status: res.statusCode }).toEqual({ field, status: 400 });
      expect(res.json().field).toBe(field);
      expect(res.body).not.toContain(SECRET);
    }
  });

  it("belong to the key's workspace: another cannot see, test or remove them", async () => {
    const owner = await newTenant(db.store);
    const other = await newTenant(db.store);
    const rule = (await addRule(owner, webhook())).json();
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/notifications/rules',
      headers: other.headers
    });
    expect(list.json().rules).toEqual([]);
    for (const [method, url] of [
      ['DELETE', `/api/notifications/rules/${rule.id}`],
      ['POST', `/api/notifications/rules/${rule.id}/test`]
    ] as const) {
      const res = await t.app.inject({ method, url, headers: other.headers });
      expect(res.statusCode).toBe(404);
    }
    const anonymous = await t.app.inject({
      method: 'GET',
      url: '/api/notifications/rules'
    });
    expect(anonymous.statusCode).toBe(401);
  });

  it('never put their destination in the server log or the events', async () => {
    const lines: string[] = [];
    const logged = await testApp(db.store, {
      notifications: service,
      logger: true,
      logStream: { write: line => void lines.push(line) }
    });
    try {
      const tenant = await newTenant(db.store);
      const res = await addRule(tenant, webhook(), logged.app);
      expect(res.statusCode).toBe(201);
      await logged.app.inject({
        method: 'POST',
        url: `/api/notifications/rules/${res.json().id}/test`,
        headers: tenant.headers
      });
      expect(lines.length).toBeGreaterThan(0);
      const events = await db.store.listEvents({
        workspaceId: tenant.workspace.id
      });
      for (const text of [lines.join('\n'), JSON.stringify(events)]) {
        expect(text).not.toContain('TOKEN-IN-PATH');
        expect(text).not.toContain(SECRET);
      }
    } finally {
      await logged.app.close();
    }
  });

  it('cannot be added without the secrets key (503)', async () => {
    const tenant = await newTenant(db.store);
    const res = await addRule(tenant, webhook(), bare.app);
    expect(res.statusCode).toBe(503);
  });
});

describe('POST /api/notifications/rules/:ruleId/test', () => {
  it('sends a signed test message and says whether it arrived', async () => {
    const tenant = await newTenant(db.store);
    const rule = (await addRule(tenant, webhook())).json();
    const ok = await t.app.inject({
      method: 'POST',
      url: `/api/notifications/rules/${rule.id}/test`,
      headers: tenant.headers
    });
    expect(ok.json()).toMatchObject({ delivered: true, error: null });
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0].headers['x-cellflow-event']).toBe('Test');

    receiver.status = 500;
    const failed = await t.app.inject({
      method: 'POST',
      url: `/api/notifications/rules/${rule.id}/test`,
      headers: tenant.headers
    });
    expect(failed.json()).toMatchObject({
      delivered: false,
      error: 'HTTP 500'
    });
  });
});

describe('GET /api/notifications/deliveries', () => {
  it("lists the workspace's deliveries with their outcome, newest first", async () => {
    const tenant = await newTenant(db.store);
    const other = await newTenant(db.store);
    const flow = await deployEtl(db.store, tenant.workspace.id);
    const rule = (await addRule(tenant, webhook())).json();
    const run = await endRun(db.store, tenant.workspace.id, flow.id);
    receiver.status = 500;
    await new DeliveryLoop({ store: db.store, service }).runOnce();

    const res = await t.app.inject({
      method: 'GET',
      url: `/api/notifications/deliveries?flowRunId=${run.id}`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(200);
    const [delivery] = res.json().deliveries;
    expect(delivery).toMatchObject({
      ruleId: rule.id,
      kind: 'webhook',
      target: `${receiver.url}/…`,
      flowRunId: run.id,
      event: 'Failed',
      state: 'Pending',
      attempts: 1,
      lastError: 'HTTP 500',
      failures: [{ error: 'HTTP 500' }]
    });
    expect(delivery.nextAttemptAt).toEqual(expect.any(String));

    const theirs = await t.app.inject({
      method: 'GET',
      url: '/api/notifications/deliveries',
      headers: other.headers
    });
    expect(theirs.json().deliveries).toEqual([]);
    const bad = await t.app.inject({
      method: 'GET',
      url: '/api/notifications/deliveries?limit=501',
      headers: tenant.headers
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('limit');
  });
  it("lists one flow's deliveries with flowId (the panel's notifications section)", async () => {
    const tenant = await newTenant(db.store);
    const etl = await deployEtl(db.store, tenant.workspace.id, 'etl');
    const other = await deployEtl(db.store, tenant.workspace.id, 'other');
    await addRule(tenant, { ...webhook(), flowId: null });
    const etlRun = await endRun(db.store, tenant.workspace.id, etl.id);
    await endRun(db.store, tenant.workspace.id, other.id);
    receiver.status = 200;
    await new DeliveryLoop({ store: db.store, service }).runOnce();

    const res = await t.app.inject({
      method: 'GET',
      url: `/api/notifications/deliveries?flowId=${etl.id}`,
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(200);
    const deliveries = res.json().deliveries;
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({
      flowId: etl.id,
      flowRunId: etlRun.id,
      state: 'Delivered'
    });
  });
});
