/**
 * Kernels a killed server left behind. A kernel dies with its server (JPY_PARENT_PID, or bwrap's
 * parent-death signal), but a kill can land in a spawn's first microseconds, and then a kernel idled on,
 * re-parented to init, until the machine restarted (the chaos suite saw it after kill -9). Each kernel's
 * pid is kept beside its folder (`<kernels dir>/cellflow-kernel-XXXX.pid`); a server starting on the data
 * dir (it holds the lock: its predecessor is gone) kills every such process that is still that kernel:
 * its command line names that kernel's folder, so a pid reused by another process is left alone.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Kills the kernels whose pid files are in `kernelsDir`; returns how many it killed. */
export function killOrphanKernels(kernelsDir: string): number {
  let names: string[];
  try {
    names = readdirSync(kernelsDir).filter(name => name.endsWith('.pid'));
  } catch {
    return 0; // no kernels folder: nothing was ever started here
  }
  let killed = 0;
  for (const name of names) {
    const folder = join(kernelsDir, name.slice(0, -'.pid'.length));
    let pid: number;
    let cmdline: string;
    try {
      pid = Number(readFileSync(join(kernelsDir, name), 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 1) {
        continue;
      }
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone already
    }
    if (
      !cmdline
        .split('\0')
        .some(arg => arg === folder || arg.startsWith(`${folder}/`))
    ) {
      continue; // the pid now belongs to something else
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
