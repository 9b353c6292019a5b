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
import { pgliteOptions } from './pglite-settings.js';
import { PgliteThread } from './pglite-thread.js';
import { schema } from './schema.js';
import { findStoreTemplate, unpackStoreTemplate } from './store-template.js';
import type { Store } from './store.js';

export interface PgliteStoreOptions {
  /** Migrations to apply instead of server/migrations (tests). */
  migrations?: Migration[];
  /**
   * PGlite on the caller's own thread, as before issue 16: only for the load benchmark to compare
   * against (CELLFLOW_BENCH_PGLITE_IN_THREAD, read by openStore).
   */
  inThread?: boolean;
  /**
   * The template a new cluster is unpacked from; null for initdb. Default: the build's template for
   * these migrations (store-template.ts), initdb when there is none.
   */
  template?: string | null;
  /** Told how the cluster came to be (the tests check which way a store was made). */
  onOpen?: (origin: ClusterOrigin) => void;
}

/**
 * Makes a new cluster in `dataDir`: from the build's template when there is one (store-template.ts),
 * else by initdb. initdb inside the WebAssembly instance leaves ~550 MB that neither closing it nor a
 * GC gives back to the system (measured: 850 MB resident after a fresh open, ~300 MB after a reopen),
 * so it runs in a short-lived child process, and the server's own instance only ever reopens.
 */
async function createCluster(
  dataDir: string,
  template: string | null
): Promise<ClusterOrigin> {
  if (template) {
    unpackStoreTemplate(template, dataDir);
    return 'template';
  }
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
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
  return 'initdb';
}

/** How the store's cluster came to be: already there, unpacked from the template, or made by initdb. */
export type ClusterOrigin = 'existing' | 'template' | 'initdb';

/** A PGlite database in `dataDir` (in memory when undefined), and how its cluster was made. */
async function openPglite(
  dataDir: string | undefined,
  inThread: boolean,
  template: string | null
): Promise<{ client: PGlite | PgliteThread; origin: ClusterOrigin }> {
  let origin: ClusterOrigin = 'existing';
  if (dataDir && !existsSync(join(dataDir, 'PG_VERSION'))) {
    origin = await createCluster(dataDir, template);
  } else if (!dataDir) {
    // In memory: PGlite unpacks the template itself (loadDataDir) instead of running initdb.
    origin = template ? 'template' : 'initdb';
  }
  const memoryTemplate = dataDir ? undefined : (template ?? undefined);
  const client = inThread
    ? await PGlite.create(pgliteOptions(dataDir, memoryTemplate))
    : await PgliteThread.start(dataDir, memoryTemplate);
  return { client, origin };
}

/** Applies the pending migrations to a PGlite database, in one transaction. */
function migratePglite(
  client: PGlite | PgliteThread,
  migrations: Migration[] | undefined
) {
  return migrate(
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
    migrations
  );
}

/**
 * The store template's bytes: a new in-memory PGlite with every migration applied, dumped as PGlite's
 * gzip'd tar (scripts/build-store-template.mjs writes it with saveStoreTemplate).
 */
export async function dumpStoreTemplate(
  migrations?: Migration[]
): Promise<Uint8Array> {
  const db = await PGlite.create();
  try {
    await migratePglite(db, migrations);
    // A checkpoint first, so the dump's data files hold everything and its WAL nothing to replay.
    await db.exec('CHECKPOINT');
    const dump = await db.dumpDataDir('gzip');
    return new Uint8Array(await dump.arrayBuffer());
  } finally {
    await db.close();
  }
}

/** Opens (creating if needed) the store in `dataDir`, or in memory when dataDir is undefined. */
export async function openPgliteStore(
  dataDir?: string,
  options: PgliteStoreOptions = {}
): Promise<Store> {
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
  }
  const template =
    options.template === undefined
      ? findStoreTemplate(options.migrations)
      : options.template;
  const { client, origin } = await openPglite(
    dataDir,
    options.inThread ?? false,
    template
  );
  options.onOpen?.(origin);
  const mutex = new Mutex();
  try {
    await mutex.run(() => migratePglite(client, options.migrations));
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
