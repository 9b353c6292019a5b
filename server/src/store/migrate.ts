/**
 * A small forward-only migrator. Migrations are the numbered SQL files in server/migrations
 * (`0001_init.sql`, `0002_....sql`); applied versions are recorded in `cellflow_migrations`. All pending
 * files are applied in ONE transaction under an advisory lock, so two servers starting together neither
 * both apply a file nor leave a half-migrated database. A database newer than the code is refused.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SchemaTooNewError } from './errors.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** What the migrator needs from a connection: statements inside one transaction. */
export interface MigrationSession {
  /** Runs one or more statements with no parameters. */
  exec(sql: string): Promise<void>;
  query<R extends Record<string, unknown>>(
    sql: string,
    params?: unknown[]
  ): Promise<R[]>;
}

export type RunInTransaction = <T>(
  fn: (session: MigrationSession) => Promise<T>
) => Promise<T>;

const FILE_PATTERN = /^(\d{4})_([A-Za-z0-9_-]+)\.sql$/;
// Any fixed number works; it only has to be the same in every Cellflow process.
const ADVISORY_LOCK_KEY = 7_243_001;

/**
 * The migrations folder shipped beside the code. Found by walking up from this module, because it sits
 * at server/src/store when run from source and at server/lib/server/src/store when compiled.
 */
export function findMigrationsDir(
  start = dirname(fileURLToPath(import.meta.url))
): string {
  let dir = start;
  for (;;) {
    const candidate = join(dir, 'migrations');
    if (
      existsSync(candidate) &&
      readdirSync(candidate).some(f => FILE_PATTERN.test(f))
    ) {
      return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        `No Cellflow migrations folder (migrations/0001_*.sql) found above ${start}`
      );
    }
    dir = parent;
  }
}

/** Reads and checks the migration files: numbered 1, 2, 3... with no gaps or duplicates. */
export function loadMigrations(dir = findMigrationsDir()): Migration[] {
  const migrations = readdirSync(dir)
    .filter(f => f.endsWith('.sql'))
    .map(file => {
      const match = FILE_PATTERN.exec(file);
      if (!match) {
        throw new Error(
          `Migration file ${join(dir, file)} is not named NNNN_name.sql`
        );
      }
      return {
        version: Number(match[1]),
        name: match[2],
        sql: readFileSync(join(dir, file), 'utf8')
      };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(
        `Migrations in ${dir} must be numbered 0001, 0002, ... without gaps; found ${m.version} at ${i + 1}`
      );
    }
  });
  if (migrations.length === 0) {
    throw new Error(`No migrations in ${dir}`);
  }
  return migrations;
}

export interface MigrationResult {
  /** Versions applied by this call, in order (empty when the database was up to date). */
  applied: number[];
  version: number;
}

export async function migrate(
  runInTransaction: RunInTransaction,
  migrations: Migration[] = loadMigrations()
): Promise<MigrationResult> {
  const codeVersion = migrations[migrations.length - 1].version;
  return runInTransaction(async session => {
    await session.query('SELECT pg_advisory_xact_lock($1)', [
      ADVISORY_LOCK_KEY
    ]);
    await session.exec(
      `CREATE TABLE IF NOT EXISTS cellflow_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`
    );
    const rows = await session.query<{ version: number | null }>(
      'SELECT max(version) AS version FROM cellflow_migrations'
    );
    const current = rows[0]?.version ?? 0;
    if (current > codeVersion) {
      throw new SchemaTooNewError(current, codeVersion);
    }
    const applied: number[] = [];
    for (const m of migrations.filter(m => m.version > current)) {
      try {
        await session.exec(m.sql);
      } catch (error) {
        throw new Error(
          `Migration ${m.version} (${m.name}) failed: ${(error as Error).message}`,
          { cause: error }
        );
      }
      await session.query(
        'INSERT INTO cellflow_migrations (version, name) VALUES ($1, $2)',
        [m.version, m.name]
      );
      applied.push(m.version);
    }
    return { applied, version: Math.max(current, codeVersion) };
  });
}
