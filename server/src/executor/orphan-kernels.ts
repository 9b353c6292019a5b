/**
 * Kernels a killed server left behind. A kernel dies with its server (JPY_PARENT_PID; in the sandbox,
 * bwrap's parent-death signal, set through setpriv), but a kill that lands while a sandbox is being made
 * escapes both: bwrap's inner process sets its own parent-death signal only once it runs, so an outer
 * bwrap killed first leaves it (and its kernel) running, re-parented to init (the chaos suite saw it after
 * kill -9). A server starting on the data dir (it holds the lock: its predecessor is gone) therefore
 * kills every process whose command line names one of the kernel folders in `<data dir>/kernels`, the
 * inner bwrap included (it inherits the outer's arguments), before the folders are removed. A process
 * that merely reuses a pid is never touched: it must name the folder.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Kills the processes naming a kernel folder of `kernelsDir`; returns how many it killed. */
export function killOrphanKernels(kernelsDir: string): number {
  let folders: string[];
  try {
    folders = readdirSync(kernelsDir, { withFileTypes: true })
      .filter(entry => entry.isDirectory())
      .map(entry => join(kernelsDir, entry.name));
  } catch {
    return 0; // no kernels folder: nothing was ever started here
  }
  if (folders.length === 0) {
    return 0;
  }
  const names = (arg: string) =>
    folders.some(folder => arg === folder || arg.startsWith(`${folder}/`));
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) {
      continue;
    }
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (!cmdline.split('\0').some(names)) {
      continue;
    }
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // exited meanwhile
    }
  }
  return killed;
}
