/**
 * The shared store: PostgreSQL through a pg Pool, for many server and worker processes on one database.
 */
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';

import { DrizzleStore, type Db, type DbRunner } from './drizzle-store.js';
import { migrate, type Migration, type MigrationSession } from './migrate.js';
import { schema } from './schema.js';
import type { Store } from './store.js';

export interface PostgresStoreOptions {
  /** Pool size; default 10. */
  max?: number;
  migrations?: Migration[];
}

export async function openPostgresStore(
  databaseUrl: string,
  options: PostgresStoreOptions = {}
): Promise<Store> {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10
  });
  // An idle client losing its connection (database restart) must not crash the process; the next query
  // gets a fresh connection or a clear error.
  pool.on('error', () => undefined);
  // A client checked out (a transaction between two statements) that loses its connection emits 'error'
  // too, where the pool listens no more: its next statement fails instead, and it is not reused.
  pool.on('connect', client => {
    client.on('error', () => undefined);
  });
  try {
    await migrate(async fn => {
      const client = await pool.connect().catch((error: Error) => {
        // The URL may hold a password: name the host only.
        throw new Error(
          `Cannot connect to PostgreSQL at ${describeUrl(databaseUrl)}: ${error.message}`,
          { cause: error }
        );
      });
      try {
        await client.query('BEGIN');
        const result = await fn({
          exec: async text => {
            await client.query(text);
          },
          query: async <R extends Record<string, unknown>>(
            text: string,
            params?: unknown[]
          ) => (await client.query<R>(text, params)).rows
        } satisfies MigrationSession);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    }, options.migrations);
  } catch (error) {
    await pool.end();
    throw error;
  }
  const db = drizzle(pool, { schema }) as unknown as Db;
  let closed = false;
  const runner: DbRunner = {
    kind: 'postgres',
    tx: fn => db.transaction(tx => fn(tx as unknown as Db)),
    run: fn => fn(db),
    close: async () => {
      if (closed) {
        return;
      }
      closed = true;
      await pool.end();
    }
  };
  return new DrizzleStore(runner);
}

function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}
