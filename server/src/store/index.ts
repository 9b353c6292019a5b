/**
 * Opening the store: PostgreSQL when a database URL is given (or DATABASE_URL is set), else embedded
 * PGlite in the data directory.
 */
import { openPgliteStore } from './pglite.js';
import { openPostgresStore } from './postgres.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  dataDir?: string;
  databaseUrl?: string;
}

export function openStore(
  options: OpenStoreOptions = {},
  env: NodeJS.ProcessEnv = process.env
): Promise<Store> {
  const databaseUrl = options.databaseUrl ?? (env.DATABASE_URL || undefined);
  return databaseUrl
    ? openPostgresStore(databaseUrl)
    : openPgliteStore(options.dataDir);
}

export { openPgliteStore } from './pglite.js';
export { openPostgresStore } from './postgres.js';
export * from './errors.js';
export * from './states.js';
export type * from './store.js';
