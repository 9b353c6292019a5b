/**
 * The event stream over a real socket, read with fetch as the lab reads it: replay after Last-Event-ID
 * (or ?after=) gives exactly the later events, new events arrive live after hub.notify, heartbeats
 * come, and a closed client unsubscribes. Every wait is on something arriving, never on time passing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildServer } from '../src/app.js';
import { LocalEventHub } from '../src/events/hub.js';
import {
  etlNotebook,
  newTenant,
  openTestStore,
  type Tenant,
  type TestStore
} from './support/api-fixture.js';
import type { FastifyInstance } from 'fastify';
import { SseReader } from './support/sse-reader.js';

/** A hub that says when a stream unsubscribes, so a test can wait for it. */
class ObservedHub extends LocalEventHub {
  private waiters: (() => void)[] = [];
  override subscribe(workspaceId: string, listener: () => void): () => void {
    const off = super.subscribe(workspaceId, listener);
    return () => {
      off();
      for (const resolve of this.waiters.splice(0)) {
        resolve();
      }
    };
  }
  nextUnsubscribe(): Promise<void> {
    return new Promise(resolve => this.waiters.push(resolve));
  }
}

let db: TestStore;
let hub: ObservedHub;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  db = await openTestStore();
  hub = new ObservedHub();
  app = await buildServer({ store: db.store, hub, heartbeatMs: 25 });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app.close();
  await db.close();
});

async function open(
  tenant: Tenant,
  query = '',
  headers: Record<string, string> = {}
) {
  const res = await fetch(`${base}/api/events${query}`, {
    headers: { ...tenant.headers, accept: 'text/event-stream', ...headers }
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  return new SseReader(res.body!.getReader());
}

async function api(
  tenant: Tenant,
  method: string,
  path: string,
  body?: unknown
) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...tenant.headers,
      ...(body ? { 'content-type': 'application/json' } : {})
    },
    body: body ? JSON.stringify(body) : undefined
  });
  return { status: res.status, json: (await res.json()) as any };
}

/** A tenant with a deployed flow and three runs: four events so far. */
async function tenantWithEvents() {
  const tenant = await newTenant(db.store);
  const deployed = await api(tenant, 'POST', '/api/flows', {
    name: 'etl',
    notebook: etlNotebook()
  });
  const flowId = deployed.json.flow.id as string;
  const runIds: string[] = [];
  for (let i = 0; i < 3; i++) {
    runIds.push(
      (await api(tenant, 'POST', `/api/flows/${flowId}/runs`, {})).json.run.id
    );
  }
  const events = await db.store.listEvents({
    workspaceId: tenant.workspace.id
  });
  return { tenant, flowId, runIds, events };
}

describe('GET /api/events as a stream', () => {
  it('replays exactly the events after Last-Event-ID, then streams new ones live, in order', async () => {
    const { tenant, runIds, events } = await tenantWithEvents();
    // Key creation, deploy, three run creations.
    expect(events.map(e => e.type)).toEqual([
      'api_key.created',
      'flow.deployed',
      'flow_run.created',
      'flow_run.created',
      'flow_run.created'
    ]);
    const reader = await open(tenant, '', {
      'last-event-id': String(events[2].id)
    });
    for (const expected of events.slice(3)) {
      const message = await reader.nextEvent();
      expect(message).toMatchObject({
        id: String(expected.id),
        event: expected.type
      });
      expect(JSON.parse(message!.data!)).toMatchObject({
        id: expected.id,
        type: expected.type,
        flowRunId: expected.flowRunId,
        payload: expected.payload
      });
    }
    // A write through the API notifies the hub: the cancel's state change is the very next event.
    const cancelled = await api(
      tenant,
      'POST',
      `/api/runs/${runIds[0]}/cancel`
    );
    expect(cancelled.status).toBe(200);
    const live = await reader.nextEvent();
    expect(live!.event).toBe('flow_run.state');
    expect(JSON.parse(live!.data!)).toMatchObject({
      flowRunId: runIds[0],
      payload: { from: 'Pending', to: 'Cancelled' }
    });
    expect(Number(live!.id)).toBeGreaterThan(events[4].id);

    // An event written by someone else (the run service) arrives once hub.notify is called.
    const appended = await db.store.appendEvent({
      workspaceId: tenant.workspace.id,
      flowRunId: runIds[1],
      type: 'log',
      payload: { text: 'hello' }
    });
    hub.notify(tenant.workspace.id);
    const logged = await reader.nextEvent();
    expect(logged).toMatchObject({ id: String(appended.id), event: 'log' });
    await reader.cancel();
  });

  it('resumes from ?after= as from Last-Event-ID, the header winning when both are given', async () => {
    const { tenant, events } = await tenantWithEvents();
    const byQuery = await open(tenant, `?after=${events[3].id}`);
    expect((await byQuery.nextEvent())!.id).toBe(String(events[4].id));
    await byQuery.cancel();
    const both = await open(tenant, `?after=0`, {
      'last-event-id': String(events[3].id)
    });
    expect((await both.nextEvent())!.id).toBe(String(events[4].id));
    await both.cancel();
  });

  it('starts after the latest event with ?live=true, the history skipped, unless resuming', async () => {
    const { tenant, flowId, runIds, events } = await tenantWithEvents();
    const live = await open(tenant, `?flowId=${flowId}&live=true`);
    const cancelled = await api(
      tenant,
      'POST',
      `/api/runs/${runIds[1]}/cancel`
    );
    expect(cancelled.status).toBe(200);
    // The first event it sends is the one written after it opened, none of the five before.
    const first = await live.nextEvent();
    expect(first!.event).toBe('flow_run.state');
    expect(JSON.parse(first!.data!)).toMatchObject({ flowRunId: runIds[1] });
    await live.cancel();
    // A reconnect's Last-Event-ID wins over live: it resumes where it was.
    const resumed = await open(tenant, `?flowId=${flowId}&live=true`, {
      'last-event-id': String(events[3].id)
    });
    expect((await resumed.nextEvent())!.id).toBe(String(events[4].id));
    await resumed.cancel();
  });

  it("streams only one run's events with ?runId=", async () => {
    const { tenant, runIds } = await tenantWithEvents();
    const reader = await open(tenant, `?runId=${runIds[1]}`);
    const created = await reader.nextEvent();
    expect(JSON.parse(created!.data!)).toMatchObject({
      type: 'flow_run.created',
      flowRunId: runIds[1]
    });
    await api(tenant, 'POST', `/api/runs/${runIds[0]}/cancel`);
    await api(tenant, 'POST', `/api/runs/${runIds[1]}/cancel`);
    const next = await reader.nextEvent();
    expect(JSON.parse(next!.data!)).toMatchObject({
      type: 'flow_run.state',
      flowRunId: runIds[1]
    });
    await reader.cancel();
  });

  it('sends heartbeat comments while nothing happens', async () => {
    const tenant = await newTenant(db.store);
    const reader = await open(tenant, `?after=999999999`);
    for (;;) {
      const message = await reader.next();
      if (message?.comment === 'heartbeat') {
        break;
      }
      expect(message).not.toBeNull();
    }
    await reader.cancel();
  });

  it('unsubscribes from the hub when the client goes away', async () => {
    const tenant = await newTenant(db.store);
    const ws = tenant.workspace.id;
    const reader = await open(tenant);
    // The stream's own subscription, and its workspace feed's once it has caught up.
    expect(hub.listenerCount(ws)).toBeGreaterThanOrEqual(1);
    await reader.cancel();
    while (hub.listenerCount(ws) > 0) {
      await hub.nextUnsubscribe();
    }
    expect(hub.listenerCount(ws)).toBe(0);
  });

  it("carries the CORS headers for the lab's origin, which a hijacked reply must set itself", async () => {
    const tenant = await newTenant(db.store);
    const res = await fetch(`${base}/api/events`, {
      headers: {
        ...tenant.headers,
        accept: 'text/event-stream',
        origin: 'http://localhost:8888'
      }
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(
      'http://localhost:8888'
    );
    expect(res.headers.get('cache-control')).toMatch(/no-cache/);
    await res.body!.cancel();
  });

  it('refuses a Last-Event-ID that is not an event id', async () => {
    const tenant = await newTenant(db.store);
    const res = await fetch(`${base}/api/events`, {
      headers: {
        ...tenant.headers,
        accept: 'text/event-stream',
        'last-event-id': 'abc'
      }
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: 'bad-request',
      field: 'Last-Event-ID'
    });
  });

  it('ends open streams when the server closes', async () => {
    const other = await buildServer({ store: db.store });
    const url = await other.listen({ host: '127.0.0.1', port: 0 });
    const tenant = await newTenant(db.store);
    const res = await fetch(`${url}/api/events`, {
      headers: { ...tenant.headers, accept: 'text/event-stream' }
    });
    const reader = new SseReader(res.body!.getReader());
    expect((await reader.nextEvent())!.event).toBe('api_key.created');
    await other.close();
    expect(await reader.nextEvent()).toBeNull();
  });
});

describe('GET /api/events as JSON', () => {
  it('gives one page of events after an id, with the last id to resume from', async () => {
    const { tenant, events } = await tenantWithEvents();
    const res = await api(
      tenant,
      'GET',
      `/api/events?after=${events[1].id}&limit=2`
    );
    expect(res.status).toBe(200);
    expect(res.json.events.map((e: { id: number }) => e.id)).toEqual([
      events[2].id,
      events[3].id
    ]);
    expect(res.json.lastId).toBe(events[3].id);
    expect(res.json.events[0].workspaceId).toBeUndefined();
  });
});
