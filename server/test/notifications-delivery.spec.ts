/**
 * Notifications end to end on a real store: a failed run queues one delivery per matching rule in the
 * transaction that records it, and the delivery loop sends it to a local receiver (signed webhook,
 * Slack shape, SMTP), exactly once, also across a restart on the same store; a failing destination
 * is retried with backoff, its failures listed, and given up after the last attempt.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  DeliveryLoop,
  backoffDelay
} from '../src/notifications/delivery-loop.js';
import { signBody } from '../src/notifications/senders.js';
import { NotificationService } from '../src/notifications/service.js';
import { openPgliteStore } from '../src/store/index.js';
import type { DrizzleStore } from '../src/store/drizzle-store.js';
import type { Store } from '../src/store/store.js';
import { newTenant } from './support/api-fixture.js';
import {
  deployEtl,
  endRun,
  startReceiver,
  startSmtp,
  testSecrets,
  type Receiver
} from './support/notify-fixture.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise(r => server.close(r));
  return port;
}

const SECRET = 'webhook-signing-secret';
const PUBLIC_URL = 'https://cellflow.example.org/team/';

let dir: string;
let store: Store;
let receiver: Receiver;
const key = randomBytes(32);

function service(
  s: Store = store,
  smtp: { url: string; from: string } | null = null
) {
  return new NotificationService(s, testSecrets(s, key), {
    timeoutMs: 2000,
    smtp,
    publicUrl: PUBLIC_URL
  });
}

function loop(s: Store = store, svc = service(s), extra = {}) {
  return new DeliveryLoop({ store: s, service: svc, backoffMs: 100, ...extra });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cellflow-notify-'));
  store = await openPgliteStore(join(dir, 'data'));
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  receiver.received.length = 0;
  receiver.status = 200;
});

describe('a generic webhook', () => {
  it('gets exactly one signed message per failed run, naming the flow, run, task, error and link', async () => {
    const tenant = await newTenant(store);
    const flow = await deployEtl(store, tenant.workspace.id);
    const rule = await service().addRule(tenant.workspace.id, {
      flowId: flow.id,
      events: ['Failed', 'Crashed'],
      kind: 'webhook',
      url: `${receiver.url}/hook/secret-path`,
      secret: SECRET
    });
    expect(rule.targetMasked).toBe(`${receiver.url}/…`);

    const run = await endRun(store, tenant.workspace.id, flow.id, 'Failed');
    const ok = await endRun(store, tenant.workspace.id, flow.id, 'Completed');
    const deliveryLoop = loop();
    expect(await deliveryLoop.runOnce()).toBe(1);
    expect(await deliveryLoop.runOnce()).toBe(0);

    expect(receiver.received).toHaveLength(1);
    const [message] = receiver.received;
    expect(message.path).toBe('/hook/secret-path');
    expect(message.headers['x-cellflow-signature-256']).toBe(
      signBody(SECRET, message.body)
    );
    expect(message.headers['x-cellflow-event']).toBe('Failed');
    const body = JSON.parse(message.body);
    expect(body).toMatchObject({
      event: 'Failed',
      flowName: 'etl',
      runId: run.id,
      state: 'Failed',
      failedTask: 'load',
      errorLine: 'ValueError: boom',
      link: `https://cellflow.example.org/team/lab?cellflow-run=${run.id}`
    });
    expect(body.deliveryId).toBe(message.headers['x-cellflow-delivery']);
    expect(body.startedAt).toBe(run.startedAt!.toISOString());
    expect(body.endedAt).toBe(run.endedAt!.toISOString());
    expect(body.summary).toContain('flow etl failed');
    expect(ok.state).toBe('Completed');

    const deliveries = await store.listNotificationDeliveries({
      workspaceId: tenant.workspace.id
    });
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({
      ruleId: rule.id,
      flowRunId: run.id,
      event: 'Failed',
      state: 'Delivered',
      attempts: 1,
      lastError: null
    });
  });

  it('is sent once across a restart: queued, the server stops, a new one on the same store sends it', async () => {
    const path = join(dir, 'restart');
    let first = await openPgliteStore(path);
    const tenant = await newTenant(first);
    const flow = await deployEtl(first, tenant.workspace.id);
    await service(first).addRule(tenant.workspace.id, {
      flowId: null,
      events: ['Failed'],
      kind: 'webhook',
      url: `${receiver.url}/restart`,
      secret: SECRET
    });
    const run = await endRun(first, tenant.workspace.id, flow.id);
    // The first server's loop never ran: it stops with the delivery queued.
    const stopped = loop(first);
    stopped.start();
    await stopped.stop();
    await first.close();
    expect(receiver.received.filter(r => r.path === '/restart')).toEqual([]);

    first = await openPgliteStore(path);
    try {
      const second = loop(first);
      await second.runOnce();
      await second.runOnce();
      const sent = receiver.received.filter(r => r.path === '/restart');
      expect(sent).toHaveLength(1);
      expect(JSON.parse(sent[0].body).runId).toBe(run.id);
      const [delivery] = await first.listNotificationDeliveries({
        workspaceId: tenant.workspace.id
      });
      expect(delivery.state).toBe('Delivered');
    } finally {
      await first.close();
    }
  });
});

describe('the events a rule asks for', () => {
  it('Late when a scheduled run is marked late, Recovered when a run completes after a failure', async () => {
    const tenant = await newTenant(store);
    const flow = await deployEtl(store, tenant.workspace.id, 'hourly');
    await service().addRule(tenant.workspace.id, {
      flowId: flow.id,
      events: ['Late', 'Recovered'],
      kind: 'webhook',
      url: `${receiver.url}/events`,
      secret: SECRET
    });
    const scheduled = await store.createRun({
      workspaceId: tenant.workspace.id,
      flowId: flow.id,
      trigger: 'scheduled',
      state: 'Scheduled',
      scheduledAt: new Date(Date.now() - 60_000)
    });
    await store.transitionRun(scheduled.id, 'Late');
    await store.transitionRun(scheduled.id, 'Cancelled');
    await endRun(store, tenant.workspace.id, flow.id, 'Completed');
    await endRun(store, tenant.workspace.id, flow.id, 'Failed');
    const recovered = await endRun(
      store,
      tenant.workspace.id,
      flow.id,
      'Completed'
    );
    await endRun(store, tenant.workspace.id, flow.id, 'Completed');
    await loop().runOnce();
    // Sent side by side: in either order.
    const sent = receiver.received
      .map(r => JSON.parse(r.body))
      .sort((x, y) => (x.event === 'Late' ? -1 : y.event === 'Late' ? 1 : 0));
    expect(sent.map(m => [m.event, m.runId])).toEqual([
      ['Late', scheduled.id],
      ['Recovered', recovered.id]
    ]);
    expect(sent[0].scheduledAt).toBe(scheduled.scheduledAt!.toISOString());
    expect(sent[1].summary).toContain('completed again after a failure');
  });
});

describe('a Slack webhook', () => {
  it('gets a text plus blocks, with a button that opens the run', async () => {
    const tenant = await newTenant(store);
    const flow = await deployEtl(store, tenant.workspace.id, 'nightly');
    await service().addRule(tenant.workspace.id, {
      flowId: flow.id,
      events: ['Failed'],
      kind: 'slack',
      url: `${receiver.url}/services/T000/B000/XXXX`
    });
    const run = await endRun(store, tenant.workspace.id, flow.id);
    await loop().runOnce();
    expect(receiver.received).toHaveLength(1);
    const body = JSON.parse(receiver.received[0].body);
    expect(body.text).toBe(
      `Cellflow: flow nightly failed (run ${run.id.slice(0, 8)}): task load: ValueError: boom`
    );
    expect(body.blocks[0].type).toBe('section');
    expect(body.blocks[1].text.text).toContain('Failed task: load');
    expect(body.blocks[2].elements[0].url).toBe(
      `https://cellflow.example.org/team/lab?cellflow-run=${run.id}`
    );
    expect(
      receiver.received[0].headers['x-cellflow-signature-256']
    ).toBeUndefined();
  });
});

describe('e-mail', () => {
  it('reaches a local SMTP server', async () => {
    const smtp = await startSmtp();
    try {
      const settings = { url: smtp.url, from: 'cellflow@example.org' };
      const tenant = await newTenant(store);
      const flow = await deployEtl(store, tenant.workspace.id, 'mailer');
      const rule = await service(store, settings).addRule(tenant.workspace.id, {
        flowId: flow.id,
        events: ['Failed'],
        kind: 'email',
        email: 'oncall@example.org'
      });
      expect(rule.targetMasked).toBe('o…@example.org');
      const run = await endRun(store, tenant.workspace.id, flow.id);
      await loop(store, service(store, settings)).runOnce();
      expect(smtp.mails).toHaveLength(1);
      expect(smtp.mails[0].to).toEqual(['oncall@example.org']);
      expect(smtp.mails[0].from).toBe('cellflow@example.org');
      expect(smtp.mails[0].data).toContain(
        'Subject: Cellflow: flow mailer failed'
      );
      expect(smtp.mails[0].data).toContain(`Run: ${run.id}`);
      expect(smtp.mails[0].data).toContain('Error: ValueError: boom');
    } finally {
      await smtp.close();
    }
  });

  it('is refused when the server has no SMTP server, naming the field', async () => {
    const tenant = await newTenant(store);
    await expect(
      service().addRule(tenant.workspace.id, {
        flowId: null,
        events: ['Failed'],
        kind: 'email',
        email: 'a@example.org'
      })
    ).rejects.toMatchObject({ field: 'email' });
  });
});

describe('a failing destination', () => {
  it('is retried with backoff, its failures listed, and given up after the last attempt', async () => {
    const tenant = await newTenant(store);
    const flow = await deployEtl(store, tenant.workspace.id);
    await service().addRule(tenant.workspace.id, {
      flowId: flow.id,
      events: ['Failed'],
      kind: 'webhook',
      url: `${receiver.url}/down`,
      secret: SECRET
    });
    await endRun(store, tenant.workspace.id, flow.id);
    receiver.status = 500;
    const l = loop(store, service(), { maxAttempts: 3, backoffMs: 60_000 });
    const t0 = Date.now();
    expect(await l.runOnce()).toBe(1);
    let [d] = await store.listNotificationDeliveries({
      workspaceId: tenant.workspace.id
    });
    expect(d).toMatchObject({
      state: 'Pending',
      attempts: 1,
      lastError: 'HTTP 500'
    });
    // Not due again before its backoff.
    expect(await l.runOnce()).toBe(0);
    expect(d.nextAttemptAt.getTime()).toBeGreaterThanOrEqual(t0 + 60_000);

    // Due once its backoff has passed; the third attempt is the last.
    expect(await l.runOnce(new Date(Date.now() + 61_000))).toBe(1);
    expect(await l.runOnce(new Date(Date.now() + 3 * 3_600_000))).toBe(1);
    [d] = await store.listNotificationDeliveries({
      workspaceId: tenant.workspace.id
    });
    expect(d).toMatchObject({
      state: 'Failed',
      attempts: 3,
      lastError: 'HTTP 500'
    });
    expect(d.failures.map(f => f.error)).toEqual([
      'HTTP 500',
      'HTTP 500',
      'HTTP 500'
    ]);
    expect(receiver.received.filter(r => r.path === '/down')).toHaveLength(3);
    // Given up: never claimed again.
    expect(await l.runOnce(new Date(Date.now() + 48 * 3_600_000))).toBe(0);
  });

  it('that refuses connections is listed without its URL', async () => {
    const tenant = await newTenant(store);
    const flow = await deployEtl(store, tenant.workspace.id);
    await service().addRule(tenant.workspace.id, {
      flowId: flow.id,
      events: ['Failed'],
      kind: 'slack',
      url: `http://127.0.0.1:${await closedPort()}/services/T/B/TOKEN`
    });
    await endRun(store, tenant.workspace.id, flow.id);
    await loop().runOnce();
    const [d] = await store.listNotificationDeliveries({
      workspaceId: tenant.workspace.id
    });
    expect(d.state).toBe('Pending');
    expect(d.lastError).toMatch(/^could not connect \(.*ECONNREFUSED/);
    expect(JSON.stringify(d)).not.toContain('TOKEN');
  });

  it('backs off exponentially, capped', () => {
    expect([1, 2, 3, 4, 10].map(a => backoffDelay(a, 1000, 5000))).toEqual([
      1000, 2000, 4000, 5000, 5000
    ]);
  });
});

describe('a run whose notification cannot be queued', () => {
  it('still records its state: queueing is never worth failing the run', async () => {
    const tenant = await newTenant(store);
    const flow = await deployEtl(store, tenant.workspace.id);
    await service().addRule(tenant.workspace.id, {
      flowId: flow.id,
      events: ['Failed'],
      kind: 'slack',
      url: `${receiver.url}/broken`
    });
    const raw = (text: string) => (store as DrizzleStore).queryRows(text);
    await raw('ALTER TABLE notification_deliveries RENAME TO deliveries_away');
    try {
      const run = await endRun(store, tenant.workspace.id, flow.id);
      expect(run.state).toBe('Failed');
      expect((await store.getRunById(run.id))!.state).toBe('Failed');
    } finally {
      await raw(
        'ALTER TABLE deliveries_away RENAME TO notification_deliveries'
      );
    }
  });
});
