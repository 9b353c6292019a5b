// A throwaway PostgreSQL cluster for the chaos suite (as server/test/support/postgres.ts makes one for
// the tests): initdb in a folder of its own, started on a free loopback port, run as the `postgres` user
// when we are root (PostgreSQL refuses root). restart(), stop() and start() are the faults.
import { execFile, execFileSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync
} from 'node:fs';
import { join } from 'node:path';

import { freePort } from './lib.mjs';

/** Debian's server binaries (/usr/lib/postgresql/<version>/bin) or CELLFLOW_PG_BIN; null when absent. */
export function findPostgresBin() {
  const candidates = process.env.CELLFLOW_PG_BIN
    ? [process.env.CELLFLOW_PG_BIN]
    : [];
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    candidates.push(
      ...readdirSync(root)
        .filter(v => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map(v => join(root, v, 'bin'))
    );
  }
  return (
    candidates.find(dir =>
      ['initdb', 'pg_ctl', 'postgres'].every(b => existsSync(join(dir, b)))
    ) ?? null
  );
}

function postgresUser() {
  if (process.getuid?.() !== 0) {
    return null;
  }
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find(l => l.startsWith('postgres:'));
  if (!line) {
    throw new Error('running as root but there is no `postgres` user');
  }
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** A cluster in `dir` (made here); `url` for DATABASE_URL. */
export async function startPostgres(dir) {
  const bin = findPostgresBin();
  if (!bin) {
    throw new Error('PostgreSQL server binaries not found');
  }
  const owner = postgresUser();
  mkdirSync(dir, { recursive: true });
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
  }
  const run = (command, args) =>
    new Promise((resolve, reject) => {
      const [file, argv] = owner
        ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]]
        : [join(bin, command), args];
      execFile(file, argv, { timeout: 90_000 }, (error, stdout, stderr) =>
        error
          ? reject(
              new Error(
                `${command} ${args.join(' ')}: ${error.message}\n${stderr}`
              )
            )
          : resolve(stdout)
      );
    });
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  await run('initdb', [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync'
  ]);
  const port = await freePort();
  const startArgs = [
    '-D',
    dataDir,
    '-o',
    `-p ${port} -h 127.0.0.1 -k ${dir} -F -c max_connections=100`,
    '-l',
    logFile,
    '-w',
    '-t',
    '60'
  ];
  await run('pg_ctl', [...startArgs, 'start']);
  let up = true;
  const onExit = () => {
    if (up) {
      try {
        const args = ['-D', dataDir, '-m', 'immediate', '-w', 'stop'];
        execFileSync(
          owner ? 'runuser' : join(bin, 'pg_ctl'),
          owner ? ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args] : args,
          { stdio: 'ignore', timeout: 30_000 }
        );
      } catch {
        // Already down.
      }
    }
  };
  process.once('exit', onExit);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    /** `pg_ctl restart -m fast`. */
    restart: () => run('pg_ctl', [...startArgs, '-m', 'fast', 'restart']),
    /** `pg_ctl stop -m fast`: an outage, the data kept. */
    stop: async () => {
      await run('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
      up = false;
    },
    start: async () => {
      await run('pg_ctl', [...startArgs, 'start']);
      up = true;
    },
    /** Stops the cluster for good and deletes it. */
    destroy: async () => {
      process.off('exit', onExit);
      if (up) {
        await run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
        up = false;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
