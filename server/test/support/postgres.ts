/**
 * A throwaway PostgreSQL cluster for tests: initdb in a temp directory, started on a free loopback port
 * with fsync off, stopped and deleted by stop(). Uses Debian's server binaries
 * (/usr/lib/postgresql/<version>/bin) or CELLFLOW_PG_BIN. As root, the server runs as the `postgres` user
 * (PostgreSQL refuses to run as root). pause()/resume()/restart() take the server away and back (outage
 * tests).
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPostgres {
  url: string;
  /** Stops the cluster for good and deletes it. */
  stop(): Promise<void>;
  /** Stops the server (`pg_ctl stop -m fast`), keeping its data: a database outage. */
  pause(): Promise<void>;
  /** Starts the paused server again, on the same port with the same data. */
  resume(): Promise<void>;
  /** `pg_ctl restart -m fast`. */
  restart(): Promise<void>;
}

export function findPostgresBin(): string {
  const fromEnv = process.env.CELLFLOW_PG_BIN;
  const candidates: string[] = fromEnv ? [fromEnv] : [];
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter(v => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map(v => join(root, v, 'bin')));
  }
  const found = candidates.find(dir =>
    ['initdb', 'pg_ctl', 'postgres'].every(b => existsSync(join(dir, b)))
  );
  if (!found) {
    throw new Error(
      'PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in ' +
        `${fromEnv ? `CELLFLOW_PG_BIN=${fromEnv} or ` : ''}/usr/lib/postgresql/<version>/bin. ` +
        'Install them with `apt-get install -y postgresql`, or set CELLFLOW_PG_BIN to their folder.'
    );
  }
  return found;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port'))
      );
    });
  });
}

function postgresUid(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) {
    return null;
  }
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find(l => l.startsWith('postgres:'));
  if (!line) {
    throw new Error(
      'Running as root but there is no `postgres` user to run the test PostgreSQL as'
    );
  }
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(
  asPostgres: boolean,
  command: string,
  args: string[]
): Promise<string> {
  const [file, argv] = asPostgres
    ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
    : [command, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(
          new Error(
            `${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`
          )
        );
      } else {
        resolve(stdout);
      }
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = findPostgresBin();
  const owner = postgresUid();
  const dir = mkdtempSync(join(tmpdir(), 'cellflow-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
  }
  const asPostgres = owner !== null;
  const pgCtl = join(bin, 'pg_ctl');
  try {
    await run(asPostgres, join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-sync'
    ]);
    // A port picked free may be taken before the server binds it; one more try covers that race.
    let lastError: unknown;
    for (let tries = 0; tries < 3; tries++) {
      const port = await freePort();
      const serverOptions = `-p ${port} -h 127.0.0.1 -k ${dir} -F -c max_connections=50`;
      const startArgs = [
        '-D',
        dataDir,
        '-o',
        serverOptions,
        '-l',
        logFile,
        '-w',
        '-t',
        '60'
      ];
      try {
        await run(asPostgres, pgCtl, [...startArgs, 'start']);
      } catch (error) {
        lastError = new Error(
          `${(error as Error).message}\n${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`
        );
        continue;
      }
      let stopped = false;
      let paused = false;
      const stopArgs = ['-D', dataDir, '-m', 'immediate', '-w', 'stop'];
      // If the test process ends without teardown (a hung hook, an interrupt), still stop the cluster.
      const onExit = () => {
        if (stopped) {
          return;
        }
        stopped = true;
        const [file, argv] = asPostgres
          ? ['runuser', ['-u', 'postgres', '--', pgCtl, ...stopArgs]]
          : [pgCtl, stopArgs];
        try {
          if (!paused) {
            execFileSync(file, argv, { stdio: 'ignore', timeout: 30_000 });
          }
        } catch {
          // Already down.
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      };
      process.once('exit', onExit);
      return {
        url: `postgres://postgres@127.0.0.1:${port}/postgres`,
        stop: async () => {
          if (stopped) {
            return;
          }
          stopped = true;
          process.off('exit', onExit);
          try {
            if (!paused) {
              await run(asPostgres, pgCtl, stopArgs);
            }
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        },
        pause: async () => {
          await run(asPostgres, pgCtl, [
            '-D',
            dataDir,
            '-m',
            'fast',
            '-w',
            'stop'
          ]);
          paused = true;
        },
        resume: async () => {
          await run(asPostgres, pgCtl, [...startArgs, 'start']);
          paused = false;
        },
        restart: async () => {
          await run(asPostgres, pgCtl, [...startArgs, '-m', 'fast', 'restart']);
        }
      };
    }
    throw lastError;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
