/**
 * The embedded store: PGlite (PostgreSQL in WebAssembly) in a data directory, no server to install.
 * It runs in a worker thread (pglite-thread.ts), so its queries never hold up the server's event loop.
 * PGlite is ONE connection: a statement issued while another caller's transaction is open would run
 * inside that transaction. So every store call, transaction or not, takes a turn through one mutex.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

import { join } from 'node:path';

import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';

import { DrizzleStore, type Db, type DbRunner } from './drizzle-store.js';
import { migrate, type MigrationSession, type Migration } from './migrate.js';
import { Mutex } from './mutex.js';
import { PgliteThread } from './pglite-thread.js';
import { schema } from './schema.js';
import type { Store } from './store.js';

export interface PgliteStoreOptions {
  /** Migrations to apply instead of server/migrations (tests). */
  migrations?: Migration[];
  /**
   * PGlite on the caller's own thread, as before issue 16: only for the load benchmark to compare
   * against (CELLFLOW_BENCH_PGLITE_IN_THREAD, read by openStore).
   */
  inThread?: boolean;
}

/**
 * A PGlite database in `dataDir`. Creating a new cluster runs initdb inside the WebAssembly instance,
 * which then holds ~550 MB that neither closing it nor a GC gives back to the system (measured: 850 MB
 * resident after a fresh open, ~300 MB after a reopen). So a new directory is created by a short-lived
 * child process, and this process only ever reopens.
 */
async function openPglite(
  dataDir: string | undefined,
  inThread: boolean
): Promise<PGlite | PgliteThread> {
  if (dataDir && !existsSync(join(dataDir, 'PG_VERSION'))) {
    const entry = createRequire(import.meta.url).resolve(
      '@electric-sql/pglite'
    );
    const script =
      'const { PGlite } = require(process.argv[1]);' +
      'PGlite.create({ dataDir: process.argv[2] }).then(db => db.close())' +
      '.catch(e => { console.error(e && e.message ? e.message : e); process.exit(1); });';
    await new Promise<void>((resolve, reject) => {
      execFile(
        process.execPath,
        ['-e', script, entry, dataDir],
        (error, _out, stderr) =>
          error
            ? reject(
                new Error(
                  `Could not create the embedded store in ${dataDir}: ${stderr.trim() || error.message}`
                )
              )
            : resolve()
      );
    });
  }
  return inThread
    ? PGlite.create(dataDir ? { dataDir } : {})
    : PgliteThread.start(dataDir);
}

/** Opens (creating if needed) the store in `dataDir`, or in memory when dataDir is undefined. */
export async function openPgliteStore(
  dataDir?: string,
  options: PgliteStoreOptions = {}
): Promise<Store> {
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
  }
  const client = await openPglite(dataDir, options.inThread ?? false);
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
  // The thread stands in for PGlite with the part of its interface drizzle's driver calls.
  const db = drizzle(client as PGlite, { schema }) as unknown as Db;
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
