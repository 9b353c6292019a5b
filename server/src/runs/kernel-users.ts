/**
 * `--kernel-user`: each workspace's kernels run as an OS user of their own, as JupyterHub's spawners
 * run each user's server as that user. Then even a kernel that got out of its sandbox holds nothing of
 * the server's user: not its files, not its processes. Users are made on first use (`useradd
 * --system`, no home, no login shell), named `cf-` and 12 hex digits of a hash of the workspace id, with
 * "Cellflow workspace <id>" as their comment (`getent passwd | grep '^cf-'` lists them).
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';

import type { KernelUser } from '../executor/start-kernel.js';

export const KERNEL_USER_PREFIX = 'cf-';

export function kernelUserName(workspaceId: string): string {
  const hash = createHash('sha256').update(workspaceId).digest('hex');
  return `${KERNEL_USER_PREFIX}${hash.slice(0, 12)}`;
}

export class KernelUsers {
  private readonly known = new Map<string, KernelUser>();

  constructor() {
    if (process.getuid?.() !== 0) {
      throw new Error(
        '--kernel-user needs the server to run as root: it makes a user per workspace and starts kernels as that user'
      );
    }
  }

  /** The workspace's user, made now if it does not exist yet. */
  userFor(workspaceId: string): KernelUser {
    const cached = this.known.get(workspaceId);
    if (cached) {
      return cached;
    }
    const name = kernelUserName(workspaceId);
    let user = lookup(name);
    if (!user) {
      const made = spawnSync(
        'useradd',
        [
          '--system',
          '--user-group',
          '--no-create-home',
          '--home-dir',
          '/nonexistent',
          '--shell',
          '/usr/sbin/nologin',
          '--comment',
          `Cellflow workspace ${workspaceId}`,
          name
        ],
        { encoding: 'utf8' }
      );
      // Another server may have made it meanwhile: look again before giving up.
      user = lookup(name);
      if (!user) {
        throw new Error(
          `could not make the kernel user ${name}: ${(made.stderr || made.error?.message || '').trim()}`
        );
      }
    }
    this.known.set(workspaceId, user);
    return user;
  }
}

function lookup(name: string): KernelUser | null {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    return null;
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}
