/**
 * Starts an ipykernel process with a connection file of ours and returns it once ready: with an
 * environment of its own (kernel-env.ts), and inside the sandbox when one is given (sandbox.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import {
  makeConnectionInfo,
  releasePorts,
  type ConnectionInfo
} from './connection.js';
import { kernelEnvironment } from './kernel-env.js';
import {
  SANDBOX_KERNEL_DIR,
  bwrapArguments,
  type SandboxOptions
} from './sandbox.js';
import { ZmqKernel } from './zmq-kernel.js';

export interface KernelUser {
  uid: number;
  gid: number;
}

export interface StartKernelOptions {
  /** The Python with ipykernel; default: $VIRTUAL_ENV's, else the nearest `.venv`, else `python3`. */
  python?: string;
  /**
   * A kernelspec's command instead of `python -m ipykernel_launcher`: `{connection_file}` and
   * `{resource_dir}` are filled in as jupyter_client fills them.
   */
  argv?: string[];
  /** The kernelspec's folder, for `{resource_dir}`. */
  resourceDir?: string;
  cwd?: string;
  /**
   * The kernel's own variables (its workspace's secrets), on top of the allow-list of kernel-env.ts.
   * The server's environment is never passed on.
   */
  env?: Record<string, string>;
  /** Run the kernel in this sandbox (absent: a plain child process, `--isolation none`). */
  sandbox?: SandboxOptions;
  /** Where the kernel's own folder is made (default: the OS temp folder). */
  kernelsDir?: string;
  /**
   * Run the kernel as this OS user (its workspace's, `--kernel-user`); the server must be root. Its
   * own folder is given to the user; the run's folder must be writable by it.
   */
  user?: KernelUser;
  /** How long the kernel may take to become ready (default 60 s: a cold start on a busy machine). */
  readyTimeoutMs?: number;
  /**
   * How many times to start the kernel, each on new ports, when its ports were taken before it bound
   * them (Address already in use): default START_TRIES.
   */
  startTries?: number;
  /** The connection info of each try (default makeConnectionInfo: new free ports); tests. */
  connectionInfo?: (attempt: number) => Promise<ConnectionInfo>;
  /** Told a kernel that started only after a retry (default: console.warn). */
  onWarning?: (line: string) => void;
}

/** Tries of a kernel start whose ports were taken meanwhile (see connection.ts). */
export const START_TRIES = 5;

/** A kernel that exited before it was ready because a port of its was taken: worth a try on new ports. */
export class PortsTakenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PortsTakenError';
  }
}

const ADDRESS_IN_USE = /Address already in use|EADDRINUSE/i;

/** $VIRTUAL_ENV's python, else `.venv/bin/python` in `from` or a parent folder, else `python3`. */
export function defaultPython(from: string = process.cwd()): string {
  const venv = process.env.VIRTUAL_ENV;
  if (venv && existsSync(join(venv, 'bin', 'python'))) {
    return join(venv, 'bin', 'python');
  }
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const candidate = join(dir, '.venv', 'bin', 'python');
    if (existsSync(candidate)) {
      return candidate;
    }
    if (dirname(dir) === dir) {
      return 'python3';
    }
  }
}

/**
 * Starts the kernel; when its ports were taken between our pick and its bind (another process, or
 * a port picked by two starts), starts it again on new ports, up to `startTries` times in all.
 */
export async function startKernel(
  options: StartKernelOptions = {}
): Promise<ZmqKernel> {
  const python = options.python ?? defaultPython(options.cwd);
  const tries = Math.max(1, options.startTries ?? START_TRIES);
  for (let attempt = 1; ; attempt++) {
    const info = await (options.connectionInfo ?? (() => makeConnectionInfo()))(
      attempt
    );
    try {
      const kernel = await startOnce(options, python, info);
      if (attempt > 1) {
        (options.onWarning ?? (line => console.warn(line)))(
          `cellflow: the kernel (${python}) started at try ${attempt} of ${tries}: ` +
            `the ports of the earlier ${attempt === 2 ? 'try were' : `${attempt - 1} tries were`} taken (Address already in use)`
        );
      }
      return kernel;
    } catch (error) {
      if (!(error instanceof PortsTakenError)) {
        throw error;
      }
      if (attempt >= tries) {
        throw new Error(
          `${error.message}\n(${tries} tries, each on new ports: their ports were taken each time)`
        );
      }
    } finally {
      // Bound by the kernel now, or never going to be.
      releasePorts(info);
    }
  }
}

async function startOnce(
  options: StartKernelOptions,
  python: string,
  info: ConnectionInfo
): Promise<ZmqKernel> {
  const kernelsDir = options.kernelsDir ?? tmpdir();
  await mkdir(kernelsDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(kernelsDir, 'cellflow-kernel-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  let kernel: ZmqKernel;
  try {
    const connectionFile = join(dir, 'kernel.json');
    const ipythonDir = join(dir, 'ipython');
    const home = join(dir, 'home');
    const ownTmp = join(dir, 'tmp');
    await Promise.all([ipythonDir, home, ownTmp].map(d => mkdir(d)));
    await writeFile(connectionFile, JSON.stringify(info), { mode: 0o600 });
    if (options.user) {
      const { uid, gid } = options.user;
      await Promise.all(
        [dir, ipythonDir, home, ownTmp, connectionFile].map(p =>
          chown(p, uid, gid)
        )
      );
    }
    const cwd = resolve(options.cwd ?? process.cwd());
    // The kernel's own folder as the kernel sees it: at SANDBOX_KERNEL_DIR in the sandbox.
    const seen = (path: string) =>
      options.sandbox ? join(SANDBOX_KERNEL_DIR, relative(dir, path)) : path;
    const env = kernelEnvironment({
      python,
      home: seen(home),
      // Inside the sandbox /tmp is the kernel's own already.
      tmpdir: options.sandbox ? '/tmp' : ownTmp,
      workspace: options.env
    });
    env.IPYTHONDIR = seen(ipythonDir);
    if (!options.sandbox) {
      // The kernel polls this pid and exits when the server is gone (in the sandbox, bwrap's
      // --die-with-parent does it: the server's pid means nothing in the kernel's PID namespace).
      env.JPY_PARENT_PID = String(process.pid);
    }
    // The server keeps its own files private (umask 077); what notebooks write is the user's and
    // keeps the usual modes.
    const command = [
      // In the sandbox bwrap runs as root to mount, and setpriv then drops to the user for good.
      ...(options.sandbox && options.user ? dropTo(options.user) : []),
      '/bin/sh',
      '-c',
      'umask 022 && exec "$0" "$@"',
      ...(options.argv
        ? options.argv.map(arg =>
            arg
              .replaceAll('{connection_file}', seen(connectionFile))
              .replaceAll('{resource_dir}', options.resourceDir ?? '')
          )
        : [
            python,
            '-m',
            'ipykernel_launcher',
            '-f',
            seen(connectionFile),
            '--IPKernelApp.log_level=ERROR'
          ])
    ];
    const [file, ...args] = options.sandbox
      ? [
          // bwrap's --die-with-parent ends the sandbox with bwrap, but nothing ended bwrap with the
          // server: killed with -9, it left bwrap and its kernel running, re-parented to init. setpriv
          // sets bwrap's parent-death signal, so the kernel goes with the server whatever kills it.
          'setpriv',
          '--pdeathsig',
          'KILL',
          '--',
          options.sandbox.bwrap,
          ...bwrapArguments(
            options.sandbox,
            { cwd, kernelDir: dir, command },
            // setpriv needs its capabilities to change user; it drops them all itself.
            { keepCapabilities: options.user !== undefined }
          )
        ]
      : command;
    const child = spawn(file, args, {
      cwd,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(options.user && !options.sandbox
        ? { uid: options.user.uid, gid: options.user.gid }
        : {})
    });
    kernel = new ZmqKernel(child, info, dir);
  } catch (error) {
    await cleanup();
    throw error;
  }
  const exited = kernel.exited.then(() => {
    throw new Error(
      `The kernel (${python}) exited before it was ready` +
        (kernel.stderr.trim() ? `:\n${kernel.stderr.trim()}` : '')
    );
  });
  exited.catch(() => undefined); // observed by the race below only while starting
  try {
    await Promise.race([
      kernel.waitReady(options.readyTimeoutMs ?? 60_000),
      exited
    ]);
  } catch (error) {
    await kernel.kill();
    // Its exit may come first as a failed request (KernelDiedError): its stderr says why either way.
    if (ADDRESS_IN_USE.test(kernel.stderr)) {
      throw new PortsTakenError(
        error instanceof Error ? error.message : String(error)
      );
    }
    const reason = error instanceof Error ? error.message : String(error);
    if (reason.includes(python)) {
      throw error;
    }
    // Whichever failed first (a request interrupted as the process died, EINTR, or the wait), the
    // message names the kernel's Python and what it said.
    const said = kernel.stderr.trim();
    throw new Error(
      `The kernel (${python}) did not start: ${reason}${said ? `:\n${said}` : ''}`,
      { cause: error }
    );
  }
  // ipykernel has read the file and bound its ports: the key need not sit on disk any longer.
  await rm(join(dir, 'kernel.json'), { force: true });
  return kernel;
}

/** setpriv's arguments that make the rest of the command run as `user`, with no way back. */
function dropTo(user: KernelUser): string[] {
  return [
    'setpriv',
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    '--clear-groups',
    '--no-new-privs',
    '--bounding-set=-all',
    '--inh-caps=-all',
    '--'
  ];
}
