/**
 * Opening the store: PostgreSQL when a database URL is given (or DATABASE_URL is set), else embedded
 * PGlite in the data directory, in a thread of its own.
 */
import {
  DEFAULT_DISK_RESERVE_BYTES,
  DiskGuard,
  guardDiskSpace
} from './disk-guard.js';
import { openPgliteStore } from './pglite.js';
import { openPostgresStore } from './postgres.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  dataDir?: string;
  databaseUrl?: string;
  /**
   * Free space the embedded store keeps in its data dir (disk-guard.ts); default
   * CELLFLOW_DISK_RESERVE_MB, else 48 MB.
   */
  diskReserveBytes?: number;
}

export async function openStore(
  options: OpenStoreOptions = {},
  env: NodeJS.ProcessEnv = process.env
): Promise<Store> {
  const databaseUrl = options.databaseUrl ?? (env.DATABASE_URL || undefined);
  if (databaseUrl) {
    return openPostgresStore(databaseUrl);
  }
  const store = await openPgliteStore(options.dataDir, {
    // Not a user option: the load benchmark's baseline, PGlite on the server's own thread (issue 16).
    inThread: env.CELLFLOW_BENCH_PGLITE_IN_THREAD === '1'
  });
  if (!options.dataDir) {
    return store; // in memory: no disk to fill
  }
  return guardDiskSpace(
    store,
    new DiskGuard({
      dataDir: options.dataDir,
      reserveBytes: options.diskReserveBytes ?? reserveFromEnv(env)
    })
  );
}

function reserveFromEnv(env: NodeJS.ProcessEnv): number {
  const text = env.CELLFLOW_DISK_RESERVE_MB;
  if (text === undefined || text.trim() === '') {
    return DEFAULT_DISK_RESERVE_BYTES;
  }
  const mb = Number(text);
  if (!Number.isFinite(mb) || mb < 0 || mb > 1024 * 1024) {
    throw new RangeError(
      `CELLFLOW_DISK_RESERVE_MB must be a number of megabytes from 0 to 1048576, got "${text}"`
    );
  }
  return Math.round(mb * 1024 * 1024);
}

export { openPgliteStore } from './pglite.js';
export { openPostgresStore } from './postgres.js';
export * from './errors.js';
export { DiskFullError, DiskGuard, guardDiskSpace } from './disk-guard.js';
export * from './states.js';
export type * from './store.js';
