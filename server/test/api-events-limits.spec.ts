/**
 * Event streams under clients that misbehave: replay waits for the socket to drain (many streams that
 * replay a large history and never read keep the server's memory bounded, and /api/health answers
 * meanwhile), a client that stops reading for too long is cut off, a key holds at most so many open
 * streams (429 with Retry-After beyond), and a revoked key's open streams end within about a second.
 * Real listening servers; the clients that never read are raw sockets that send a request and pause.
 */
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LocalEventHub } from '../src/events/hub.js';

import {
  newTenant,
  openTestStore,
  testApp,
  type Tenant,
  type TestStore
} from './support/api-fixture.js';

// A full collection on demand, for measuring what a test keeps alive (V8's gc(), exposed at run time).
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

let db: TestStore;

beforeAll(async () => {
  db = await openTestStore();
});
afterAll(async () => {
  await db.close();
});

interface Listening {
  app: FastifyInstance;
  hub: LocalEventHub;
  base: string;
  port: number;
  /** The server's side of every connection, by the client's port. */
  serverSockets: Map<number, Socket>;
}

async function listening(
  options: Parameters<typeof testApp>[1] = {}
): Promise<Listening> {
  const { app, hub } = await testApp(db.store, options);
  const serverSockets = new Map<number, Socket>();
  app.server.on('connection', (socket: Socket) => {
    serverSockets.set(socket.remotePort!, socket);
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, hub, base, port: Number(new URL(base).port), serverSockets };
}

/** A client that sends the stream request and then never reads (its socket paused). */
async function silentStream(
  server: Listening,
  tenant: Tenant,
  lastEventId?: number
): Promise<{ client: Socket; server: Socket }> {
  const client = connect({ host: '127.0.0.1', port: server.port });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  client.on('error', () => undefined);
  client.pause();
  client.write(
    'GET /api/events HTTP/1.1\r\n' +
      `Host: 127.0.0.1:${server.port}\r\n` +
      `Authorization: Bearer ${tenant.secret}\r\n` +
      'Accept: text/event-stream\r\n' +
      (lastEventId === undefined ? '' : `Last-Event-ID: ${lastEventId}\r\n`) +
      '\r\n'
  );
  const port = client.localPort!;
  for (let i = 0; !server.serverSockets.has(port); i++) {
    if (i > 200) {
      throw new Error('the server never saw the connection');
    }
    await new Promise(resolve => setTimeout(resolve, 5));
  }
  return { client, server: server.serverSockets.get(port)! };
}

/** Resolves with the milliseconds it took for `socket` to close, rejects after `boundMs`. */
function closedWithin(socket: Socket, boundMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      resolve(0);
      return;
    }
    const timer = setTimeout(
      () => reject(new Error(`still open after ${boundMs} ms`)),
      boundMs
    );
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

async function openFetchStream(base: string, tenant: Tenant) {
  const res = await fetch(`${base}/api/events?after=999999999`, {
    headers: { ...tenant.headers, accept: 'text/event-stream' }
  });
  return res;
}

/** Reads a fetch body until it ends; rejects if it has not ended after `boundMs`. */
async function endedWithin(res: Response, boundMs: number): Promise<number> {
  const started = Date.now();
  const reader = res.body!.getReader();
  const timer = setTimeout(() => void reader.cancel(), boundMs);
  try {
    for (;;) {
      const { done } = await reader.read();
      if (done) {
        break;
      }
    }
  } catch {
    // A reset is an end too.
  } finally {
    clearTimeout(timer);
  }
  const took = Date.now() - started;
  if (took >= boundMs) {
    throw new Error(`the stream was still open after ${boundMs} ms`);
  }
  return took;
}

/** `count` events of about `bytes` each, written straight to the store. */
async function history(tenant: Tenant, count: number, bytes: number) {
  const text = 'x'.repeat(bytes);
  for (let i = 0; i < count; i++) {
    await db.store.appendEvent({
      workspaceId: tenant.workspace.id,
      type: 'log',
      payload: { i, text }
    });
  }
}

describe('replay with backpressure', () => {
  it('keeps many non-reading streams over a large history to about a page buffered each, /api/health answering quickly', async () => {
    const STREAMS = 20;
    const tenant = await newTenant(db.store);
    await history(tenant, 5000, 2000);
    const server = await listening({
      heartbeatMs: 60_000,
      streamStallMs: 120_000,
      maxStreamsPerKey: STREAMS
    });
    try {
      // Live memory, not garbage waiting for a collection (which a busy machine lets pile up).
      const liveHeap = () => {
        collectGarbage();
        return process.memoryUsage().heapUsed;
      };
      const baseline = liveHeap();
      const streams: { client: Socket; server: Socket }[] = [];
      for (let i = 0; i < STREAMS; i++) {
        streams.push(await silentStream(server, tenant));
      }
      const buffered = () =>
        streams.reduce((sum, s) => sum + s.server.writableLength, 0);
      const written = () =>
        streams.reduce((sum, s) => sum + s.server.bytesWritten, 0);
      let maxBuffered = 0;
      let maxHeapGrowth = 0;
      let slowestHealth = 0;
      let last = -1;
      let still = 0;
      const deadline = Date.now() + 20_000;
      // Until nothing more goes out (every stream waits for its client) or the deadline.
      while (still < 5 && Date.now() < deadline) {
        const started = Date.now();
        const health = await fetch(`${server.base}/api/health`);
        expect(health.status).toBe(200);
        await health.text();
        slowestHealth = Math.max(slowestHealth, Date.now() - started);
        maxBuffered = Math.max(maxBuffered, buffered());
        maxHeapGrowth = Math.max(maxHeapGrowth, liveHeap() - baseline);
        const now = written();
        still = now === last ? still + 1 : 0;
        last = now;
        await new Promise(resolve => setTimeout(resolve, 200));
      }
      // All of it unread: 20 × ~10 MB of history would be buffered without backpressure.
      expect(
        streams.every(s => !s.server.destroyed && s.server.bytesWritten > 0)
      ).toBe(true);
      expect(maxBuffered).toBeLessThan(STREAMS * 256 * 1024);
      expect(maxHeapGrowth).toBeLessThan(64 * 1024 * 1024);
      expect(slowestHealth).toBeLessThan(1000);
      for (const s of streams) {
        s.client.destroy();
      }
    } finally {
      await server.app.close();
    }
  }, 120_000);

  it('cuts off a client that reads nothing for longer than the stall limit, freeing its slot', async () => {
    const tenant = await newTenant(db.store);
    await history(tenant, 1500, 4000);
    const server = await listening({
      heartbeatMs: 60_000,
      streamStallMs: 300,
      maxStreamsPerKey: 1
    });
    try {
      const stalled = await silentStream(server, tenant);
      await closedWithin(stalled.server, 10_000);
      stalled.client.destroy();
      // The slot is free again: the next stream is accepted.
      const res = await openFetchStream(server.base, tenant);
      expect(res.status).toBe(200);
      await res.body!.cancel();
    } finally {
      await server.app.close();
    }
  }, 30_000);

  it('still sends every event once, in order, to a client that stops reading for a while and then reads', async () => {
    const tenant = await newTenant(db.store);
    await history(tenant, 1200, 3000);
    const all = await db.store.listEvents({
      workspaceId: tenant.workspace.id,
      limit: 10_000
    });
    const server = await listening({ heartbeatMs: 60_000 });
    try {
      const res = await fetch(`${server.base}/api/events`, {
        headers: { ...tenant.headers, accept: 'text/event-stream' }
      });
      const reader = res.body!.getReader();
      await new Promise(resolve => setTimeout(resolve, 500));
      const decoder = new TextDecoder();
      let text = '';
      const ids: number[] = [];
      while (ids.length < all.length) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        text += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const id = /^id: (\d+)$/m.exec(text.slice(0, end));
          if (id) {
            ids.push(Number(id[1]));
          }
          text = text.slice(end + 2);
        }
      }
      expect(ids).toEqual(all.map(e => e.id));
      await reader.cancel();
    } finally {
      await server.app.close();
    }
  }, 30_000);
});

describe('open streams per key', () => {
  let server: Listening;
  beforeAll(async () => {
    server = await listening({ heartbeatMs: 60_000 });
  });
  afterAll(async () => {
    await server.app.close();
  });

  it('answers the 11th stream of a key 429 with Retry-After; closing one frees a slot', async () => {
    const tenant = await newTenant(db.store);
    const open: Response[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await openFetchStream(server.base, tenant);
      expect(res.status).toBe(200);
      open.push(res);
    }
    const refused = await openFetchStream(server.base, tenant);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({
      error: 'too-many-requests',
      message: expect.stringMatching(/10 open event streams/)
    });

    // Another key of the same workspace has slots of its own; one page as JSON is no stream.
    const { key, secret } = await db.store.createApiKey(
      tenant.workspace.id,
      'second'
    );
    const other: Tenant = {
      ...tenant,
      keyId: key.id,
      secret,
      headers: { authorization: `Bearer ${secret}` }
    };
    const otherStream = await openFetchStream(server.base, other);
    expect(otherStream.status).toBe(200);
    await otherStream.body!.cancel();
    const page = await fetch(`${server.base}/api/events`, {
      headers: tenant.headers
    });
    expect(page.status).toBe(200);

    await open.shift()!.body!.cancel();
    // The server hears the close shortly after: a slot comes free.
    let again: Response | undefined;
    for (let i = 0; i < 100; i++) {
      again = await openFetchStream(server.base, tenant);
      if (again.status === 200) {
        break;
      }
      await again.text();
      await new Promise(resolve => setTimeout(resolve, 20));
    }
    expect(again!.status).toBe(200);
    open.push(again!);
    for (const res of open) {
      await res.body!.cancel();
    }
  });

  it('takes the limit from the buildServer option', async () => {
    const small = await listening({ heartbeatMs: 60_000, maxStreamsPerKey: 2 });
    try {
      const tenant = await newTenant(db.store);
      const a = await openFetchStream(small.base, tenant);
      const b = await openFetchStream(small.base, tenant);
      const c = await openFetchStream(small.base, tenant);
      expect([a.status, b.status, c.status]).toEqual([200, 200, 429]);
      await c.text();
      await a.body!.cancel();
      await b.body!.cancel();
    } finally {
      await small.app.close();
    }
  });
});

describe('a revoked key', () => {
  let server: Listening;
  beforeAll(async () => {
    server = await listening({ heartbeatMs: 60_000 });
  });
  afterAll(async () => {
    await server.app.close();
  });

  it('ends its open stream within about a second, revoked in the store with no notify (as another process does)', async () => {
    const tenant = await newTenant(db.store);
    const res = await openFetchStream(server.base, tenant);
    expect(res.status).toBe(200);
    // Give the stream a moment to be fully open, so the revocation lands while it waits.
    await new Promise(resolve => setTimeout(resolve, 100));
    expect(await db.store.revokeApiKey(tenant.workspace.id, tenant.keyId)).toBe(
      true
    );
    expect(await endedWithin(res, 1500)).toBeLessThan(1500);
    // And a new stream with it is refused.
    const again = await openFetchStream(server.base, tenant);
    expect(again.status).toBe(401);
  });

  it('ends a stream whose client does not read, too', async () => {
    const tenant = await newTenant(db.store);
    await history(tenant, 600, 4000);
    const stream = await silentStream(server, tenant);
    await new Promise(resolve => setTimeout(resolve, 300));
    await db.store.revokeApiKey(tenant.workspace.id, tenant.keyId);
    await closedWithin(stream.server, 1500);
    stream.client.destroy();
  });

  it("leaves the other keys' streams open", async () => {
    const tenant = await newTenant(db.store);
    const { key, secret } = await db.store.createApiKey(
      tenant.workspace.id,
      'kept'
    );
    const [latest] = (
      await db.store.listEvents({
        workspaceId: tenant.workspace.id,
        limit: 1000
      })
    ).slice(-1);
    const kept = await fetch(`${server.base}/api/events?after=${latest.id}`, {
      headers: {
        authorization: `Bearer ${secret}`,
        accept: 'text/event-stream'
      }
    });
    const revoked = await openFetchStream(server.base, tenant);
    await db.store.revokeApiKey(tenant.workspace.id, tenant.keyId);
    await endedWithin(revoked, 1500);
    // The kept key's stream still answers live events.
    const appended = await db.store.appendEvent({
      workspaceId: tenant.workspace.id,
      type: 'log',
      payload: { keyId: key.id }
    });
    server.hub.notify(tenant.workspace.id);
    const reader = kept.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes(`id: ${appended.id}\n`)) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
  });
});
