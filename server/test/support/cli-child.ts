/**
 * The built `cellflow` command as users run it, for tests: one process per command, and a real
 * `cellflow server` child (embedded PGlite store, admin socket, real ipykernel runs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const BIN = join(ROOT, 'server', 'bin', 'cellflow.js');
export const VENV_PYTHON = join(ROOT, '.venv', 'bin', 'python');

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built command to its exit, with `input` on its stdin. The caller's CELLFLOW_* settings never
 * leak in: only `env` (the API URL and key, a config dir) reaches it.
 */
export function cellflow(
  args: string[],
  env: Record<string, string>,
  cwd: string = ROOT,
  input = ''
): Promise<Result> {
  const full: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('CELLFLOW_')) {
      full[name] = value;
    }
  }
  Object.assign(full, env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: full });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', chunk => (stdout += chunk));
    child.stderr.on('data', chunk => (stderr += chunk));
    child.on('error', reject);
    child.on('close', code => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

export interface ServerChild {
  process: ChildProcess;
  url: string;
  dataDir: string;
}

/**
 * A child process that prints its address; resolves with the first match of `pattern` on stdout,
 * rejects if it exits first (with its stderr, to say why).
 */
export async function startPrinting(
  command: string,
  args: string[],
  pattern: RegExp,
  env: NodeJS.ProcessEnv = process.env
): Promise<{ process: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(command, args, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let stderr = '';
  child.stderr!.on('data', chunk => (stderr += chunk));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', chunk => {
      stdout += chunk;
      const found = pattern.exec(stdout);
      if (found) {
        resolve(found);
      }
    });
    child.on('exit', code =>
      reject(
        new Error(
          `${command} ${args.join(' ')} exited (${code}) before printing its address: ${stderr}`
        )
      )
    );
  });
  return { process: child, match };
}

/** `cellflow server --port 0` on its own data dir (and optional root dir). */
export async function startServer(
  dataDir: string,
  extraArgs: string[] = []
): Promise<ServerChild> {
  const { process: child, match } = await startPrinting(
    process.execPath,
    [BIN, 'server', '--port', '0', '--data-dir', dataDir, ...extraArgs],
    /listening on (http:\/\/\S+)/,
    // Kernels come from the project's venv (ipykernel), whatever python3 is first on PATH.
    { ...process.env, VIRTUAL_ENV: join(ROOT, '.venv') }
  );
  return { process: child, url: match[1], dataDir };
}

/** SIGTERM, then wait for the exit (no-op if it already ended). */
export async function stopChild(
  child: ChildProcess | undefined
): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** A key of `workspace` made through the running server's admin socket, as an operator would. */
export async function createKey(
  server: ServerChild,
  workspace: string,
  configDir: string
): Promise<string> {
  const created = await cellflow(
    [
      'keys',
      'create',
      '--workspace',
      workspace,
      '--name',
      'tests',
      '--data-dir',
      server.dataDir
    ],
    { CELLFLOW_CONFIG_DIR: configDir }
  );
  if (created.code !== 0) {
    throw new Error(`cellflow keys create failed: ${created.stderr}`);
  }
  return created.stdout.trimEnd().split('\n').at(-1)!;
}

/** The API as the CLI's user would call it with curl, for checking what the server holds. */
export async function api<T>(
  server: ServerChild,
  key: string,
  path: string
): Promise<T> {
  const response = await fetch(server.url + path, {
    headers: { authorization: `Bearer ${key}` }
  });
  if (!response.ok) {
    throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  }
  return (await response.json()) as T;
}
