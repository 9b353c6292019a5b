/**
 * The embedded store's thread (pglite-thread.ts) against PGlite in-thread: the same rows, the same
 * errors, the same transactions; the server's event loop free while it works; and a dead thread seen
 * as an error, never a hang. The store suite (store.spec.ts) runs the whole Store on it besides.
 */
import { Worker } from 'node:worker_threads';

import {
  PGlite,
  messages,
  TransactionAbortedError,
  types
} from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { DrizzleStore } from '../src/store/drizzle-store.js';
import { isStoreUnavailable } from '../src/store/errors.js';
import { openStore } from '../src/store/index.js';
import {
  EmbeddedStoreExitedError,
  PgliteThread,
  pgliteWorkerUrl
} from '../src/store/pglite-thread.js';

const SETUP = `
  CREATE TABLE t (id int8 PRIMARY KEY, at timestamptz, doc jsonb, blob bytea, tags text[], n numeric);
  INSERT INTO t VALUES (1, '2024-03-01 10:00:00.123+00', '{"a": [1, "x"]}', '\\x0102', '{a,b}', 1.50),
                       (2, NULL, NULL, NULL, NULL, NULL);
`;

// drizzle's pglite driver asks for timestamps and intervals as text, through parsers (a function).
const DRIZZLE_PARSERS = {
  [types.TIMESTAMPTZ]: (value: string) => value,
  [types.TIMESTAMP]: (value: string) => value,
  [1185]: (value: string) => value
};

// ~1-2 s of CPU in PostgreSQL; in-thread, no timer could fire until it ended.
const HEAVY_QUERY =
  'SELECT count(*) FROM generate_series(1, 3000000) a, LATERAL (SELECT md5(a::text)) b';

/** How long `work` took, and the longest the event loop went without running a 5 ms timer meanwhile. */
async function eventLoopDuring(work: () => Promise<unknown>) {
  let longestGap = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  try {
    await work();
  } finally {
    clearInterval(ticker);
  }
  // The gap still open at the end counts: with the event loop blocked throughout, no tick ever ran.
  const ended = performance.now();
  return {
    took: ended - started,
    longestGap: Math.max(longestGap, ended - last)
  };
}

describe('PGlite in its own thread', () => {
  let local: PGlite;
  let thread: PgliteThread;

  beforeAll(async () => {
    [local, thread] = await Promise.all([
      PGlite.create(),
      PgliteThread.start()
    ]);
    await local.exec(SETUP);
    await thread.transaction(tx => tx.exec(SETUP));
  }, 60_000);
  afterAll(async () => {
    await Promise.all([local?.close(), thread?.close()]);
  });

  it('returns the rows PGlite returns, with and without parsers, as objects or arrays', async () => {
    const sql =
      'SELECT *, now() - now() AS zero, 2::int8 * id AS twice FROM t WHERE id >= $1 ORDER BY id';
    for (const options of [
      undefined,
      { rowMode: 'array' as const },
      { rowMode: 'object' as const, parsers: DRIZZLE_PARSERS },
      { rowMode: 'array' as const, parsers: DRIZZLE_PARSERS }
    ]) {
      const [mine, theirs] = await Promise.all([
        thread.query(sql, [1], options),
        local.query(sql, [1], options)
      ]);
      expect(mine).toEqual(theirs);
    }
    const row = (
      await thread.query<{ at: Date; blob: Uint8Array }>(
        'SELECT at, blob FROM t WHERE id = 1'
      )
    ).rows[0];
    expect(row.at).toBeInstanceOf(Date);
    expect(row.blob).toBeInstanceOf(Uint8Array);
  });

  it('throws the error PGlite throws: class, SQLSTATE, constraint, query and parameters', async () => {
    const sql = 'INSERT INTO t (id) VALUES ($1)';
    const [mine, theirs] = await Promise.all([
      thread.query(sql, [1]).catch((e: unknown) => e),
      local.query(sql, [1]).catch((e: unknown) => e)
    ]);
    expect(mine).toBeInstanceOf(messages.DatabaseError);
    const fields = (e: object) => {
      const { stack: _stack, ...rest } = Object.fromEntries(Object.entries(e));
      return {
        ...rest,
        message: (e as Error).message,
        name: (e as Error).name
      };
    };
    expect(fields(mine as object)).toEqual(fields(theirs as object));
    expect(mine).toMatchObject({
      code: '23505',
      constraint: 't_pkey',
      query: sql,
      params: [1]
    });
  });

  it('commits a transaction, rolls one back on a throw, and refuses to commit an aborted one', async () => {
    await thread.transaction(tx => tx.query('INSERT INTO t (id) VALUES (10)'));
    const failure = new Error('changed my mind');
    await expect(
      thread.transaction(async tx => {
        await tx.query('INSERT INTO t (id) VALUES (11)');
        throw failure;
      })
    ).rejects.toBe(failure);
    // A failed statement swallowed inside: PGlite's COMMIT then rolls back and says so.
    await expect(
      thread.transaction(async tx => {
        await tx.query('INSERT INTO t (id) VALUES (12)');
        await tx.query('SELECT 1/0').catch(() => undefined);
      })
    ).rejects.toBeInstanceOf(TransactionAbortedError);
    const ids = await thread.query<{ id: number }>(
      'SELECT id FROM t WHERE id >= 10 ORDER BY id'
    );
    expect(ids.rows).toEqual([{ id: 10 }]);
  });

  it('leaves the event loop free while a query runs', async () => {
    const { took, longestGap } = await eventLoopDuring(() =>
      thread.query(HEAVY_QUERY)
    );
    expect(took).toBeGreaterThan(300);
    expect(longestGap).toBeLessThan(took / 3);
  }, 30_000);
});

describe('the default embedded store', () => {
  it('runs in its thread: the event loop stays free during its queries', async () => {
    const store = (await openStore({}, {})) as DrizzleStore;
    try {
      const { took, longestGap } = await eventLoopDuring(() =>
        store.queryRows(HEAVY_QUERY)
      );
      expect(took).toBeGreaterThan(300);
      expect(longestGap).toBeLessThan(took / 3);
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('a dead store thread', () => {
  it('fails the waiting call and every later one with EmbeddedStoreExitedError, a 503', async () => {
    const worker = new Worker(pgliteWorkerUrl(), { workerData: {} });
    const thread = await PgliteThread.attach(worker);
    const waiting = thread.query(
      'SELECT count(*) FROM generate_series(1, 20000000)'
    );
    await worker.terminate();
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddedStoreExitedError);
    expect(isStoreUnavailable(error)).toBe(true);
    await expect(thread.query('SELECT 1')).rejects.toBe(error);
    await expect(thread.transaction(async () => 1)).rejects.toBe(error);
  }, 60_000);
});
