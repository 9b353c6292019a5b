/**
 * Live event streams of one workspace share one store read per notify (the workspace feed): many
 * subscribers cost one query per event, not one each, and every stream still gets every event of its
 * flow once, in order, including one that falls behind what the feed keeps and one that joins while
 * events keep coming. Real listening server, streams read with fetch.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildServer } from '../src/app.js';
import { LocalEventHub } from '../src/events/hub.js';
import { FEED_MAX_EVENTS } from '../src/events/workspace-feed.js';
import type { Store } from '../src/store/store.js';
import {
  newTenant,
  openTestStore,
  type Tenant,
  type TestStore
} from './support/api-fixture.js';
import { deployEtl } from './support/notify-fixture.js';
import { SseReader } from './support/sse-reader.js';

let db: TestStore;
let hub: LocalEventHub;
let app: FastifyInstance;
let base: string;
/** listEvents calls made by the server, counted. */
let reads = 0;

beforeAll(async () => {
  db = await openTestStore();
  hub = new LocalEventHub();
  const counted = new Proxy(db.store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === 'listEvents') {
        return (...args: Parameters<Store['listEvents']>) => {
          reads++;
          return target.listEvents(...args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    }
  });
  // Heartbeats (which read again as a safety net) far apart: the reads counted are the notifies'.
  app = await buildServer({
    store: counted,
    hub,
    heartbeatMs: 60_000,
    maxStreamsPerKey: 100
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
}, 60_000);

afterAll(async () => {
  await app.close();
  await db.close();
});

async function open(tenant: Tenant, query = ''): Promise<SseReader> {
  const res = await fetch(`${base}/api/events${query}`, {
    headers: { ...tenant.headers, accept: 'text/event-stream' }
  });
  expect(res.status).toBe(200);
  return new SseReader(res.body!.getReader());
}

/** Appends an event of a flow as a store write does, and tells the hub; returns its id. */
async function emit(tenant: Tenant, flowId: string, i: number) {
  const event = await db.store.appendEvent({
    workspaceId: tenant.workspace.id,
    flowId,
    type: 'test.tick',
    payload: { i }
  });
  hub.notify(tenant.workspace.id);
  return event.id;
}

/** The ids of the next `count` events a stream sends. */
async function nextIds(reader: SseReader, count: number): Promise<number[]> {
  const ids: number[] = [];
  while (ids.length < count) {
    const message = await reader.nextEvent();
    if (!message) {
      throw new Error(`the stream ended after ${ids.length} of ${count}`);
    }
    ids.push(Number(message.id));
  }
  return ids;
}

describe('live streams of a workspace', () => {
  it('share one store read per event, and each gets its flow’s events once, in order', async () => {
    const tenant = await newTenant(db.store);
    const a = (await deployEtl(db.store, tenant.workspace.id, 'a')).id;
    const b = (await deployEtl(db.store, tenant.workspace.id, 'b')).id;
    const latest = await db.store.latestEventId(tenant.workspace.id);
    const STREAMS = 24;
    const readers: { reader: SseReader; flow: string | null }[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const flow = i % 3 === 0 ? a : i % 3 === 1 ? b : null;
      readers.push({
        reader: await open(
          tenant,
          `?after=${latest}${flow ? `&flowId=${flow}` : ''}`
        ),
        flow
      });
    }
    // Each stream live: each has the first events of its flow.
    const firstA = await emit(tenant, a, -2);
    const firstB = await emit(tenant, b, -1);
    for (const { reader, flow } of readers) {
      const expected =
        flow === a ? [firstA] : flow === b ? [firstB] : [firstA, firstB];
      expect(await nextIds(reader, expected.length)).toEqual(expected);
    }

    const before = reads;
    const EVENTS = 30;
    const written: { id: number; flow: string }[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const flow = i % 2 === 0 ? a : b;
      written.push({ id: await emit(tenant, flow, i), flow });
    }
    for (const { reader, flow } of readers) {
      const expected = written
        .filter(w => flow === null || w.flow === flow)
        .map(w => w.id);
      expect(await nextIds(reader, expected.length)).toEqual(expected);
    }
    // One read per notify at most (fewer when notifies arrive during a read), not one per stream.
    expect(reads - before).toBeLessThanOrEqual(EVENTS);
    await Promise.all(readers.map(r => r.reader.cancel()));
  });

  it('gives a stream that joins while events keep coming every event once', async () => {
    const tenant = await newTenant(db.store);
    const latest = await db.store.latestEventId(tenant.workspace.id);
    const early = await open(tenant, `?after=${latest}`);
    const ids: number[] = [];
    // Events written while the second stream replays and joins the feed.
    const writing = (async () => {
      for (let i = 0; i < 60; i++) {
        ids.push(await emit(tenant, 'flow-a', i));
      }
    })();
    const late = await open(tenant, `?after=${latest}`);
    await writing;
    expect(await nextIds(early, 60)).toEqual(ids);
    expect(await nextIds(late, 60)).toEqual(ids);
    await early.cancel();
    await late.cancel();
  });

  it('replays from the store a stream that fell behind what the feed keeps, then follows it again', async () => {
    const tenant = await newTenant(db.store);
    const latest = await db.store.latestEventId(tenant.workspace.id);
    const keeping = await open(tenant, `?after=${latest}`);
    const first = await emit(tenant, 'flow-a', 0);
    expect(await nextIds(keeping, 1)).toEqual([first]);

    // More events than the feed keeps, each with a notify, while this stream's client reads nothing:
    // its socket fills, it waits, and the feed drops what it has not sent yet.
    const ids = [first];
    const count = FEED_MAX_EVENTS + 500;
    for (let i = 1; i <= count; i++) {
      ids.push(
        (
          await db.store.appendEvent({
            workspaceId: tenant.workspace.id,
            flowId: 'flow-a',
            type: 'test.tick',
            payload: { i, text: 'x'.repeat(2000) }
          })
        ).id
      );
      if (i % 100 === 0) {
        hub.notify(tenant.workspace.id);
      }
    }
    hub.notify(tenant.workspace.id);
    expect(await nextIds(keeping, count)).toEqual(ids.slice(1));
    // And it follows live again.
    const after = await emit(tenant, 'flow-a', -1);
    expect(await nextIds(keeping, 1)).toEqual([after]);
    await keeping.cancel();
  }, 120_000);

  it('closes a workspace’s feed with its last stream', async () => {
    const tenant = await newTenant(db.store);
    const ws = tenant.workspace.id;
    const latest = await db.store.latestEventId(ws);
    const reader = await open(tenant, `?after=${latest}`);
    const id = await emit(tenant, 'flow-a', 0);
    expect(await nextIds(reader, 1)).toEqual([id]);
    expect(hub.listenerCount(ws)).toBe(2); // the stream's and its feed's
    await reader.cancel();
    await expect.poll(() => hub.listenerCount(ws), { timeout: 10_000 }).toBe(0);
  });
});
