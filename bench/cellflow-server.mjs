// A real Cellflow server for a benchmark: `cellflow server` on a free port with a fresh data directory
// (embedded PGlite), an API key from `cellflow keys create`, the HTTP API and the live event stream,
// as a user reaches them. Needs `npm run build:server` first.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ROOT } from './lib.mjs';

const CLI = join(ROOT, 'server', 'bin', 'cellflow.js');

export const ENDED_RUN = new Set([
  'Completed',
  'Failed',
  'Crashed',
  'Cancelled',
  'Skipped'
]);

/**
 * A key for the workspace `bench`, made as an operator does (`cellflow keys create`, which reaches a
 * running server through its admin socket); the key is the command's last line.
 */
export function createKey(dataDir, env = process.env) {
  return execFileSync(
    process.execPath,
    [
      CLI,
      'keys',
      'create',
      '--workspace',
      'bench',
      '--name',
      'bench',
      '--data-dir',
      dataDir
    ],
    { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] }
  )
    .trim()
    .split('\n')
    .pop();
}

/** `api(method, path, body?)`: a JSON call of the Cellflow API with the key; throws on an error status. */
export function apiClient(url, key) {
  return async function api(method, path, body) {
    const response = await fetch(url + path, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body ? { 'content-type': 'application/json' } : {})
      },
      body: body ? JSON.stringify(body) : undefined
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`Cellflow ${method} ${path}: ${response.status} ${text}`);
    }
    return text ? JSON.parse(text) : undefined;
  };
}

/**
 * Starts the server; `extraArgs` go to `cellflow server`. Kernels come from the project's .venv. The
 * data directory is a new folder in `parentDir` (default: the OS temp folder; a sandboxed kernel has a
 * private /tmp, so a data dir outside it, as a real one is, has its mounts made as they would be).
 */
export async function startServer(
  extraArgs = [],
  { parentDir = tmpdir(), dataDir: given = null, env: extraEnv = {} } = {}
) {
  // A data dir given is reused (a benchmark that fills the store between two starts) and kept.
  const dataDir = given ?? mkdtempSync(join(parentDir, 'cellflow-bench-'));
  // `env` adds to this process's environment (DATABASE_URL, for one), for the server and its CLI calls.
  const env = {
    ...process.env,
    ...extraEnv,
    PATH: `${join(ROOT, '.venv', 'bin')}:${process.env.PATH}`
  };
  const spawnedAt = performance.now();
  // CELLFLOW_BENCH_NODE_FLAGS: flags for the server's node only, e.g. `--cpu-prof --cpu-prof-dir=DIR`
  // to profile it under a benchmark's load (Node refuses --cpu-prof in NODE_OPTIONS).
  const nodeFlags = (process.env.CELLFLOW_BENCH_NODE_FLAGS ?? '')
    .split(' ')
    .filter(Boolean);
  const proc = spawn(
    process.execPath,
    [
      ...nodeFlags,
      CLI,
      'server',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      ...extraArgs
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] }
  );
  let stderr = '';
  proc.stderr.on('data', chunk => (stderr += chunk));
  let out = '';
  const url = await new Promise((resolve, reject) => {
    proc.stdout.on('data', chunk => {
      out += chunk;
      const found = /listening on (http\S+)/.exec(out);
      if (found) {
        resolve(found[1]);
      }
    });
    proc.once('exit', code =>
      reject(new Error(`cellflow server exited (${code}) at start: ${stderr}`))
    );
  });
  /** From spawning the process to the server listening (store opened, migrations applied). */
  const startMs = performance.now() - spawnedAt;
  /** How its kernels are isolated, as the server said at start: 'sandbox', 'none' or 'unknown'. */
  const isolation = /bubblewrap sandbox/.test(out)
    ? 'sandbox'
    : /WITHOUT isolation/.test(out)
      ? 'none'
      : 'unknown';
  const key = createKey(dataDir, env);
  const api = apiClient(url, key);

  /**
   * Reads GET /api/events (of one flow, or of the workspace when `flowId` is null) live, calling
   * `onEvent(event)` for each one, until `onEvent` returns true (resolves) or the stream ends (rejects).
   */
  async function events(flowId, onEvent) {
    const controller = new AbortController();
    const response = await fetch(
      `${url}/api/events${flowId ? `?flowId=${encodeURIComponent(flowId)}` : ''}`,
      {
        headers: {
          authorization: `Bearer ${key}`,
          accept: 'text/event-stream'
        },
        signal: controller.signal
      }
    );
    if (!response.ok) {
      throw new Error(`Cellflow event stream: ${response.status}`);
    }
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split('\n')
            .filter(line => line.startsWith('data: '))
            .map(line => line.slice(6))
            .join('\n');
          if (data && onEvent(JSON.parse(data))) {
            controller.abort();
            return;
          }
        }
      }
    } catch (error) {
      if (controller.signal.aborted) {
        return;
      }
      throw error;
    }
    throw new Error('Cellflow event stream ended early');
  }

  async function close() {
    if (proc.exitCode === null) {
      const exited = new Promise(resolve => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await exited;
    }
    if (!given) {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  return {
    url,
    key,
    dataDir,
    pid: proc.pid,
    startMs,
    isolation,
    api,
    events,
    close
  };
}
