/**
 * One server per data directory: the embedded store (PGlite) and the admin socket live there, and a
 * second process opening them would corrupt the one or steal the other. The lock is a file holding the
 * owner's pid; a lock whose pid is gone (a killed server) is taken over.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'cellflow.lock';

// Locks this process holds: a lock file with our own pid is ours only if we took it (a container may give
// a restarted server the pid its killed predecessor had).
const held = new Set<string>();

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but is someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  for (let tries = 0; tries < 2; tries++) {
    try {
      if (held.has(path)) {
        throw inUse(dataDir, process.pid, path);
      }
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      held.add(path);
      let released = false;
      return {
        path,
        release() {
          if (released) {
            return;
          }
          released = true;
          held.delete(path);
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) {
              rmSync(path, { force: true });
            }
          } catch {
            // Already gone.
          }
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
      const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) {
        throw inUse(dataDir, owner, path);
      }
      // Stale: its server was killed. Remove and try once more (another starter may race us to it).
      rmSync(path, { force: true });
    }
  }
  throw new Error(
    `Could not lock the data directory ${dataDir}: another server is starting on it`
  );
}

function inUse(dataDir: string, pid: number, path: string): Error {
  return new Error(
    `The data directory ${dataDir} is in use by another Cellflow server (pid ${pid}); ` +
      `stop it or choose another --data-dir (if no server runs, remove ${path})`
  );
}
