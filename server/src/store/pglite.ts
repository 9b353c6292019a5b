/**
 * The embedded store: PGlite (PostgreSQL in WebAssembly) in a data directory, no server to install.
 * PGlite is ONE connection: a statement issued while another caller's transaction is open would run
 * inside that transaction. So every store call, transaction or not, takes a turn through one mutex.
 */
import { mkdirSync } from 'node:fs';

import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';

import { DrizzleStore, type Db, type DbRunner } from './drizzle-store.js';
import { migrate, type MigrationSession, type Migration } from './migrate.js';
import { Mutex } from './mutex.js';
import { schema } from './schema.js';
import type { Store } from './store.js';

export interface PgliteStoreOptions {
  /** Migrations to apply instead of server/migrations (tests). */
  migrations?: Migration[];
}

/** Opens (creating if needed) the store in `dataDir`, or in memory when dataDir is undefined. */
export async function openPgliteStore(
  dataDir?: string,
  options: PgliteStoreOptions = {}
): Promise<Store> {
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
  }
  const client = await PGlite.create(dataDir ? { dataDir } : {});
  const mutex = new Mutex();
  try {
    await mutex.run(() =>
      migrate(
        fn =>
          client.transaction(tx =>
            fn({
              exec: async text => {
                await tx.exec(text);
              },
              query: async <R extends Record<string, unknown>>(
                text: string,
                params?: unknown[]
              ) => (await tx.query<R>(text, params)).rows
            } satisfies MigrationSession)
          ),
        options.migrations
      )
    );
  } catch (error) {
    await client.close();
    throw error;
  }
  const db = drizzle(client, { schema }) as unknown as Db;
  let closed = false;
  const runner: DbRunner = {
    kind: 'pglite',
    tx: fn => mutex.run(() => db.transaction(tx => fn(tx as unknown as Db))),
    run: fn => mutex.run(() => fn(db)),
    close: () =>
      mutex.run(async () => {
        if (closed) {
          return;
        }
        closed = true;
        await client.close();
      })
  };
  return new DrizzleStore(runner);
}
