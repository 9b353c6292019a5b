/**
 * Starts an ipykernel process with a connection file of ours and returns it once ready.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { makeConnectionInfo } from './connection.js';
import { ZmqKernel } from './zmq-kernel.js';

export interface StartKernelOptions {
  /** The Python with ipykernel; default: $VIRTUAL_ENV's, else the nearest `.venv`, else `python3`. */
  python?: string;
  cwd?: string;
  /** Added to the server's environment. */
  env?: Record<string, string>;
  /** How long the kernel may take to become ready (default 60 s: a cold start on a busy machine). */
  readyTimeoutMs?: number;
}

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

export async function startKernel(
  options: StartKernelOptions = {}
): Promise<ZmqKernel> {
  const python = options.python ?? defaultPython(options.cwd);
  const dir = await mkdtemp(join(tmpdir(), 'cellflow-kernel-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  let kernel: ZmqKernel;
  try {
    const info = await makeConnectionInfo();
    const connectionFile = join(dir, 'kernel.json');
    const ipythonDir = join(dir, 'ipython');
    await mkdir(ipythonDir);
    await writeFile(connectionFile, JSON.stringify(info), { mode: 0o600 });
    const child = spawn(
      python,
      [
        '-m',
        'ipykernel_launcher',
        '-f',
        connectionFile,
        '--IPKernelApp.log_level=ERROR'
      ],
      {
        cwd: options.cwd,
        env: {
          ...process.env,
          ...options.env,
          // The kernel polls this pid and exits when the server is gone.
          JPY_PARENT_PID: String(process.pid),
          IPYTHONDIR: ipythonDir
        },
        stdio: ['ignore', 'ignore', 'pipe']
      }
    );
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
    throw error;
  }
  // ipykernel has read the file and bound its ports: the key need not sit on disk any longer.
  await rm(join(dir, 'kernel.json'), { force: true });
  return kernel;
}
