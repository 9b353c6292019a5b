/**
 * The sandbox local kernels run in: bubblewrap (`bwrap`) on Linux.
 *
 * What a sandboxed kernel sees:
 * - the system read-only (`/` bound read-only), its own `/dev`, a private `/tmp` and `/dev/shm`;
 * - a PID namespace of its own: its `/proc` shows its own processes only, never the server's
 *   (`/proc/<server pid>/environ`, `cmdline`), nor other kernels;
 * - no capabilities (`--cap-drop ALL`), a new session (no terminal injection), and it dies with the
 *   server (`--die-with-parent`);
 * - hidden behind empty folders: every home folder (the server user's profile and credentials), `/run`
 *   (service sockets), the server's data dir (the embedded store, the admin socket, the secrets key,
 *   every other flow's folder), the lab's root dir, and Cellflow's login profiles; files among these are
 *   covered with `/dev/null`;
 * - writable: its run's working folder (at its own path) and its own kernel folder (connection file,
 *   IPYTHONDIR, HOME) at SANDBOX_KERNEL_DIR;
 * - the folders its Python needs (prefix, base prefix, sys.path), read-only, even when they lie in a
 *   hidden folder (a pyenv Python in the server user's home).
 * What it does not do: the network stays open (the kernel can reach what the server's host can reach,
 * the Cellflow API included, where it needs a key like anybody else), and CPU and memory are not limited.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join, relative, resolve, sep } from 'node:path';

export type IsolationMode = 'sandbox' | 'none';

export const ISOLATION_MODES: readonly IsolationMode[] = ['sandbox', 'none'];

export interface SandboxOptions {
  /** The bwrap binary. */
  bwrap: string;
  /** Folders and files the kernel must not see (those that do not exist are skipped). */
  hidden: string[];
  /** Read-only folders the kernel's Python needs (see pythonPaths). */
  pythonPaths: string[];
}

/** Where the kernel's own folder appears inside the sandbox (its real path says nothing it needs). */
export const SANDBOX_KERNEL_DIR = '/run/cellflow-kernel';

export interface SandboxLaunch {
  /** The run's working folder: writable, the kernel's cwd, at its own path. */
  cwd: string;
  /** The kernel's own folder (connection file, IPYTHONDIR, HOME): writable, at SANDBOX_KERNEL_DIR. */
  kernelDir: string;
  /** The command to run inside, e.g. [python, '-m', 'ipykernel_launcher', ...]. */
  command: string[];
}

/** True when `child` is `root` or inside it. */
export function isInside(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** What a kernel must never see, on any server: homes, service sockets, Cellflow's profiles. */
export function defaultHiddenPaths(
  env: NodeJS.ProcessEnv = process.env
): string[] {
  const home = homedir();
  const paths = ['/root', '/home', home, join(home, '.config', 'cellflow')];
  if (env.XDG_CONFIG_HOME) {
    paths.push(join(env.XDG_CONFIG_HOME, 'cellflow'));
  }
  if (env.CELLFLOW_CONFIG_DIR) {
    paths.push(env.CELLFLOW_CONFIG_DIR);
  }
  return paths.map(p => resolve(p));
}

/**
 * The folders a Python needs to start and import: its prefixes and the folders on its sys.path (an
 * editable install's source folder too). Asked of the Python itself, once per server.
 */
export function pythonPaths(python: string): string[] {
  const script =
    'import json, os, sys\n' +
    'paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,\n' +
    '         os.path.dirname(os.path.realpath(sys.executable))] + sys.path\n' +
    'print(json.dumps([p for p in paths if p and os.path.isabs(p)]))';
  const answer = spawnSync(python, ['-c', script], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? '' }
  });
  if (answer.status !== 0) {
    throw new Error(
      `Cannot ask ${python} for its folders: ${(answer.stderr || answer.error?.message || '').trim()}`
    );
  }
  const paths = JSON.parse(answer.stdout) as string[];
  return [...new Set(paths.map(p => resolve(p)))].filter(p => existsSync(p));
}

/** `bwrap` on PATH when it can make a sandbox here (some containers forbid namespaces), else why not. */
export function findBwrap(
  env: NodeJS.ProcessEnv = process.env
): { bwrap: string } | { error: string } {
  const candidates = (env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map(dir => join(dir, 'bwrap'));
  const bwrap = candidates.find(path => existsSync(path));
  if (!bwrap) {
    return {
      error:
        'bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)'
    };
  }
  const probe = spawnSync(
    bwrap,
    [
      '--ro-bind',
      '/',
      '/',
      '--dev',
      '/dev',
      '--proc',
      '/proc',
      '--unshare-pid',
      '--die-with-parent',
      'true'
    ],
    { encoding: 'utf8', timeout: 10_000 }
  );
  if (probe.status !== 0) {
    return {
      error: `${bwrap} cannot make a sandbox on this machine: ${(probe.stderr || probe.error?.message || `exit ${probe.status}`).trim()}`
    };
  }
  return { bwrap };
}

function kind(path: string): 'dir' | 'file' | null {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

/** bwrap's arguments, in order: later mounts lie over earlier ones. */
export function bwrapArguments(
  options: SandboxOptions,
  launch: SandboxLaunch,
  how: { keepCapabilities?: boolean } = {}
): string[] {
  const args = [
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--tmpfs',
    '/tmp',
    '--tmpfs',
    '/dev/shm',
    // Service sockets (a database's, a container runtime's) live here; the resolver's file may too.
    '--tmpfs',
    '/run',
    '--ro-bind-try',
    '/run/systemd/resolve',
    '/run/systemd/resolve',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--hostname',
    'cellflow-kernel',
    '--die-with-parent',
    '--new-session',
    ...(how.keepCapabilities ? [] : ['--cap-drop', 'ALL'])
  ];
  // /tmp is private already: nothing under it needs hiding, but what is needed from it is bound again.
  const hidden = [...new Set(options.hidden.map(p => resolve(p)))].sort(
    (a, b) => a.length - b.length
  );
  const hide = (path: string) => {
    const what = kind(path);
    if (what === 'dir') {
      args.push('--tmpfs', path);
    } else if (what === 'file') {
      args.push('--ro-bind', '/dev/null', path);
    }
  };
  // /tmp is private already, and one inside another is hidden with it (a file hidden again would
  // leave its name there).
  hidden
    .filter(
      path =>
        !isInside('/tmp', path) &&
        !hidden.some(h => h !== path && isInside(h, path))
    )
    .forEach(hide);
  const coveredBy = [...hidden, '/tmp'];
  const isCovered = (path: string) =>
    coveredBy.some(root => isInside(root, path));

  // bwrap makes the folders leading to a mount point 0700: a kernel running as a user of its own
  // (--kernel-user) could not pass them, so they are made first, 0755 (they are empty but for the way).
  const made = new Set<string>();
  const wayTo = (path: string) => {
    const root = coveredBy
      .filter(r => isInside(r, path))
      .sort((a, b) => b.length - a.length)[0];
    if (!root) {
      return;
    }
    const steps = relative(root, path).split(sep).slice(0, -1);
    let at = root;
    for (const step of steps) {
      at = join(at, step);
      if (!made.has(at)) {
        made.add(at);
        args.push('--perms', '0755', '--dir', at);
      }
    }
  };
  // What is hidden inside a folder shown again (the data dir inside a checkout on sys.path, inside a
  // notebook's folder) is hidden again right after it.
  const hideInside = (root: string) => {
    for (const path of hidden) {
      if (path !== root && isInside(root, path)) {
        hide(path);
      }
    }
  };
  // Shown again over the hidden folders, read-only: the Python's folders (each once: one inside
  // another already shown is there with it, unless a hidden folder lies between them).
  const shown: string[] = [];
  for (const path of [...options.pythonPaths].sort(
    (a, b) => a.length - b.length
  )) {
    const within = shown.some(
      root =>
        isInside(root, path) &&
        !hidden.some(h => isInside(root, h) && isInside(h, path))
    );
    if (!within && isCovered(path) && kind(path) !== null) {
      wayTo(path);
      args.push('--ro-bind', path, path);
      shown.push(path);
      hideInside(path);
    }
  }
  // The run's folder, writable, over all of that (it may lie in the hidden data dir).
  wayTo(launch.cwd);
  args.push('--bind', launch.cwd, launch.cwd);
  hideInside(launch.cwd);
  // In /run, hidden above: nothing else of the server's is there.
  args.push('--bind', launch.kernelDir, SANDBOX_KERNEL_DIR);
  args.push('--chdir', launch.cwd, '--', ...launch.command);
  return args;
}
