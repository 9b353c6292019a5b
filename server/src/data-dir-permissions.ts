/**
 * The data dir holds the embedded store, the admin socket, the secrets key and every flow's folder:
 * only the server's user may read it, whatever the umask the server was started with, or the mode of a
 * folder that existed before. Folders 0700, files 0600, fixed at start (and said how many), and the
 * process's umask set to 077 so what the store writes later is private too.
 */
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/** Makes every folder under `dataDir` (itself included) 0700 and every file 0600; the number fixed. */
export function securePermissions(dataDir: string): number {
  let fixed = 0;
  const visit = (path: string) => {
    let stat;
    try {
      stat = lstatSync(path);
    } catch {
      return; // gone meanwhile
    }
    if (stat.isSymbolicLink()) {
      return; // never followed out of the data dir
    }
    const wanted = stat.isDirectory() ? DIR_MODE : FILE_MODE;
    if ((stat.mode & 0o777) !== wanted) {
      chmodSync(path, wanted);
      fixed++;
    }
    if (stat.isDirectory()) {
      for (const name of readdirSync(path)) {
        visit(join(path, name));
      }
    }
  };
  visit(dataDir);
  return fixed;
}

/** From now on this process creates private files (kernels set their own umask back: start-kernel.ts). */
export function usePrivateUmask(): void {
  process.umask(0o077);
}
