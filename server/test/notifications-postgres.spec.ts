/**
 * Notifications on a real PostgreSQL shared by two servers: each run event is queued once, and two
 * delivery loops claiming at the same time (FOR UPDATE SKIP LOCKED) send it once between them.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DeliveryLoop } from '../src/notifications/delivery-loop.js';
import { NotificationService } from '../src/notifications/service.js';
import { openPostgresStore } from '../src/store/index.js';
import type { Store } from '../src/store/store.js';
import { newTenant } from './support/api-fixture.js';
import {
  deployEtl,
  endRun,
  startReceiver,
  testSecrets,
  type Receiver
} from './support/notify-fixture.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

let pg: TestPostgres;
let a: Store;
let b: Store;
let receiver: Receiver;
// Servers sharing one PostgreSQL share the secrets key.
const key = randomBytes(32);

const loopOn = (store: Store) =>
  new DeliveryLoop({
    store,
    service: new NotificationService(store, testSecrets(store, key), {
      timeoutMs: 2000,
      smtp: null,
      publicUrl: null
    }),
    batch: 2
  });

beforeAll(async () => {
  pg = await startPostgres();
  a = await openPostgresStore(pg.url);
  b = await openPostgresStore(pg.url);
  receiver = await startReceiver();
}, 120_000);
afterAll(async () => {
  await receiver?.close();
  await a?.close();
  await b?.close();
  await pg?.stop();
});

describe('two servers on one PostgreSQL', () => {
  it('send each failed run once between them', async () => {
    const tenant = await newTenant(a);
    const flow = await deployEtl(a, tenant.workspace.id);
    const one = loopOn(a);
    await new NotificationService(a, testSecrets(a, key), {
      timeoutMs: 2000,
      smtp: null,
      publicUrl: null
    }).addRule(tenant.workspace.id, {
      flowId: null,
      events: ['Failed'],
      kind: 'webhook',
      url: `${receiver.url}/pg`,
      secret: 'shared-signing-secret'
    });
    const runs = [];
    for (let i = 0; i < 5; i++) {
      runs.push(await endRun(i % 2 ? a : b, tenant.workspace.id, flow.id));
    }
    const other = loopOn(b);
    // Both claim at once, over and over, until nothing is left.
    for (let round = 0; round < 5; round++) {
      await Promise.all([one.runOnce(), other.runOnce()]);
    }
    const runIds = receiver.received.map(r => JSON.parse(r.body).runId).sort();
    expect(runIds).toEqual(runs.map(r => r.id).sort());
    const deliveries = await b.listNotificationDeliveries({
      workspaceId: tenant.workspace.id
    });
    expect(deliveries.map(d => [d.state, d.attempts])).toEqual(
      runs.map(() => ['Delivered', 1])
    );
  });
});
