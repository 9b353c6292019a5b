/**
 * A notification queued while a server runs, which stops before sending it, is sent once by the next
 * server on the same data directory: the queue is the store, not the process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startCellflowServer, type CellflowServer } from '../src/start.js';
import { python } from './runs-helpers.js';
import { newTenant } from './support/api-fixture.js';
import { apiRequest } from './support/http.js';
import {
  deployEtl,
  endRun,
  startReceiver,
  type Receiver
} from './support/notify-fixture.js';

let dir: string;
let receiver: Receiver;
const servers: CellflowServer[] = [];

async function start(): Promise<CellflowServer> {
  const server = await startCellflowServer({
    dataDir: join(dir, 'data'),
    port: 0,
    kernelPython: python,
    env: {},
    // Runs are driven through the store here, not executed.
    executor: false,
    // The loop looks at start, then not for a minute: long after this server is gone.
    notifyPollMs: 60_000
  });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellflow-notify-restart-'));
  receiver = await startReceiver();
});
afterAll(async () => {
  for (const server of servers) {
    await server.close();
  }
  await receiver.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a server restart', () => {
  it('sends a notification queued before it exactly once', async () => {
    const first = await start();
    const tenant = await newTenant(first.store);
    const flow = await deployEtl(first.store, tenant.workspace.id);
    const added = await apiRequest(
      first.address,
      tenant.secret,
      'POST',
      '/api/notifications/rules',
      {
        flowId: flow.id,
        events: ['Failed'],
        kind: 'webhook',
        url: `${receiver.url}/restart`,
        secret: 'restart-signing-secret'
      }
    );
    expect(added.status).toBe(201);
    const run = await endRun(first.store, tenant.workspace.id, flow.id);
    await first.close();
    expect(receiver.received).toEqual([]);

    const second = await start();
    const deadline = Date.now() + 15_000;
    while (receiver.received.length === 0 && Date.now() < deadline) {
      await new Promise(r => setTimeout(r, 50));
    }
    await new Promise(r => setTimeout(r, 500));
    expect(receiver.received.map(r => JSON.parse(r.body).runId)).toEqual([
      run.id
    ]);
    const [delivery] = await second.store.listNotificationDeliveries({
      workspaceId: tenant.workspace.id
    });
    expect(delivery).toMatchObject({ state: 'Delivered', attempts: 1 });
  }, 120_000);
});
