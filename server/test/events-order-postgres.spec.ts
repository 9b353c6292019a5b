/**
 * Event streams on PostgreSQL, where transactions overlap: an event a client's cursor has passed can
 * still become visible later (an older transaction committing a higher id before a newer transaction
 * commits a lower one). Reading by cursor must hand every event over exactly once all the same.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openPostgresStore } from '../src/store/index.js';
import type { CellflowEvent, Store } from '../src/store/store.js';
import { newTenant } from './support/api-fixture.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

let server: TestPostgres;
let store: Store;

beforeAll(async () => {
  server = await startPostgres();
  store = await openPostgresStore(server.url);
}, 120000);

afterAll(async () => {
  await store?.close();
  await server?.stop();
});

/** A connection of its own, as another server process would have. */
async function connection(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  return client;
}

async function insertEvent(
  client: pg.Client,
  workspaceId: string,
  type: string
): Promise<number> {
  const { rows } = await client.query<{ id: string }>(
    'INSERT INTO events (workspace_id, type) VALUES ($1, $2) RETURNING id',
    [workspaceId, type]
  );
  return Number(rows[0].id);
}

/** What a resuming stream would have been sent by now: every page after its cursor. */
async function readOn(
  workspaceId: string,
  cursor: number
): Promise<{ events: CellflowEvent[]; cursor: number }> {
  const events = await store.listEvents({ workspaceId, afterId: cursor });
  return {
    events,
    cursor: events.length ? events[events.length - 1].id : cursor
  };
}

describe('event order on PostgreSQL', () => {
  it('hands over an event whose lower id commits after a higher id the stream already sent', async () => {
    const tenant = await newTenant(store);
    const ws = tenant.workspace.id;
    const { id: start } = await store.appendEvent({
      workspaceId: ws,
      type: 'start'
    });
    const older = await connection();
    const newer = await connection();
    try {
      // The older transaction takes its xid first (any write does), the newer one then inserts an
      // event (the lower id) and stays open, and the older one inserts the higher id and commits.
      await older.query('BEGIN');
      await older.query('SELECT pg_current_xact_id()');
      await newer.query('BEGIN');
      const low = await insertEvent(newer, ws, 'newer-transaction');
      const high = await insertEvent(older, ws, 'older-transaction');
      expect(low).toBeLessThan(high);
      await older.query('COMMIT');

      const first = await readOn(ws, start);
      expect(first.events.map(e => e.id)).toEqual([high]);

      await newer.query('COMMIT');
      const second = await readOn(ws, first.cursor);
      expect(second.events.map(e => e.id)).toEqual([low]);
      // Nothing twice: after the last cursor, nothing more.
      expect((await readOn(ws, second.cursor)).events).toEqual([]);
    } finally {
      await older.end();
      await newer.end();
    }
  });

  it('sends every event once, in one order, to readers that resume while many transactions overlap', async () => {
    const tenant = await newTenant(store);
    const ws = tenant.workspace.id;
    const writers = await Promise.all([1, 2, 3, 4].map(() => connection()));
    let cursor = (await store.appendEvent({ workspaceId: ws, type: 'start' }))
      .id;
    const seen: number[] = [];
    const written: number[] = [];
    try {
      for (let round = 0; round < 25; round++) {
        // Each writer opens a transaction; they insert in one order and commit in another.
        for (const w of writers) {
          await w.query('BEGIN');
          await w.query('SELECT pg_current_xact_id()');
        }
        for (const w of [...writers].reverse()) {
          written.push(await insertEvent(w, ws, `round-${round}`));
        }
        for (const [i, w] of writers.entries()) {
          await w.query('COMMIT');
          if (i % 2 === 0) {
            const page = await readOn(ws, cursor);
            seen.push(...page.events.map(e => e.id));
            cursor = page.cursor;
          }
        }
      }
      const rest = await readOn(ws, cursor);
      seen.push(...rest.events.map(e => e.id));
      expect(new Set(seen).size).toBe(seen.length);
      expect([...seen].sort((a, b) => a - b)).toEqual(
        [...written].sort((a, b) => a - b)
      );
    } finally {
      await Promise.all(writers.map(w => w.end()));
    }
  });

  it('resumes from a cursor whose event is gone by the ids after it', async () => {
    const tenant = await newTenant(store);
    const ws = tenant.workspace.id;
    const a = await store.appendEvent({ workspaceId: ws, type: 'a' });
    const b = await store.appendEvent({ workspaceId: ws, type: 'b' });
    const client = await connection();
    try {
      await client.query('DELETE FROM events WHERE id = $1', [a.id]);
    } finally {
      await client.end();
    }
    const page = await readOn(ws, a.id);
    expect(page.events.map(e => e.id)).toEqual([b.id]);
  });
});
