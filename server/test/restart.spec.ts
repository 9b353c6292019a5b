/**
 * Restart safety, end to end: a real `cellflow server` child runs a flow through the HTTP API, is
 * killed with SIGKILL mid-run, and a new server on the same data directory marks the run Crashed with
 * the reason, leaves no task Running, and the orphaned kernel has died with its parent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { openPgliteStore } from '../src/store/index.js';
import { notebook } from './runs-helpers.js';
import { adminRequest, apiRequest } from './support/http.js';

const bin = fileURLToPath(new URL('../bin/cellflow.js', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));
const children: ChildProcess[] = [];
const kernelPids: number[] = [];
let dataDir = '';

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
  for (const pid of kernelPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
  if (dataDir) {
    await rm(dataDir, { recursive: true, force: true });
  }
});

async function startServer(dir: string) {
  // From the repository, so the server finds the project's .venv for its kernels.
  const child = spawn(
    process.execPath,
    [bin, 'server', '--data-dir', dir, '--port', '0'],
    {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', chunk => (err += chunk));
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', chunk => {
      out += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        resolve(match[1]);
      }
    });
    child.once('exit', code =>
      reject(
        new Error(`server exited with ${code} before listening: ${out}${err}`)
      )
    );
  });
  return { child, address, output: () => out };
}

/** One request over the admin unix socket. */

/** The ipykernel processes whose parent is `pid`. */
function kernelChildren(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (ppid === pid && cmd.includes('ipykernel_launcher')) {
        found.push(Number(entry));
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Gone, or a zombie nobody reaped yet (it runs nothing any more). */
function dead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Re-checks `check` until it holds, at most `limitMs` (the state lives in another process). */
async function waitFor<T>(
  what: string,
  check: () =>
    Promise<T | null | undefined | false> | T | null | undefined | false,
  limitMs = 30_000
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(r => setTimeout(r, 50));
  }
}

describe('restart safety', () => {
  it('marks a run Crashed after the server is killed mid-run, and its kernel dies with the server', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cellflow-restart-'));
    const first = await startServer(dataDir);

    const created = await adminRequest(
      join(dataDir, 'cellflow-admin.sock'),
      'POST',
      '/admin/keys',
      {
        workspace: 'restart',
        name: 'test'
      }
    );
    expect(created.status).toBe(201);
    const key: string = created.body.secret;

    const nb = notebook([
      '%%task quick\nprint("quick done")',
      '%%task long\nimport time\nprint("long started", flush=True)\ntime.sleep(600)',
      '%%task after\nprint("never")'
    ]);
    const deployed = await apiRequest(
      first.address,
      key,
      'POST',
      '/api/flows',
      {
        name: 'restart',
        notebook: nb
      }
    );
    expect(deployed.status).toBe(201);
    const started = await apiRequest(
      first.address,
      key,
      'POST',
      `/api/flows/${deployed.body.flow.id}/runs`,
      {}
    );
    expect(started.status).toBe(201);
    const runId: string = started.body.run.id;

    await waitFor('the long task to run', async () => {
      const { body } = await apiRequest(
        first.address,
        key,
        'GET',
        `/api/runs/${runId}`
      );
      const long = body.run.taskRuns?.find(
        (t: { taskName: string }) => t.taskName === 'long'
      );
      return body.run.state === 'Running' && long?.state === 'Running';
    });
    const [kernelPid] = await waitFor('the kernel process', () => {
      const pids = kernelChildren(first.child.pid!);
      return pids.length ? pids : null;
    });
    kernelPids.push(kernelPid);

    const exited = once(first.child, 'exit');
    first.child.kill('SIGKILL');
    await exited;
    // JPY_PARENT_PID: ipykernel notices its parent is gone and exits on its own.
    await waitFor('the orphaned kernel to exit', () => dead(kernelPid));

    const second = await startServer(dataDir);
    expect(second.output()).toContain(
      'Marked 1 run(s) left Running by a previous server as Crashed'
    );
    const { body } = await apiRequest(
      second.address,
      key,
      'GET',
      `/api/runs/${runId}`
    );
    expect(body.run.state).toBe('Crashed');
    expect(body.run.stateReason).toBe(
      'server restarted while the run was running'
    );
    const tasks = Object.fromEntries(
      body.run.taskRuns.map((t: { taskName: string; state: string }) => [
        t.taskName,
        t.state
      ])
    );
    expect(tasks).toEqual({
      quick: 'Completed',
      long: 'Crashed',
      after: 'Cancelled'
    });
    const long = body.run.taskRuns.find(
      (t: { taskName: string }) => t.taskName === 'long'
    );
    expect(long.attempts.map((a: { state: string }) => a.state)).toEqual([
      'Crashed'
    ]);

    // The new server runs flows as before.
    const again = await apiRequest(
      second.address,
      key,
      'POST',
      `/api/flows/${deployed.body.flow.id}/runs`,
      {}
    );
    expect(again.status).toBe(201);

    const stopped = once(second.child, 'exit');
    second.child.kill('SIGTERM');
    const [code] = await stopped;
    expect(code).toBe(0);
    // A clean stop removes the admin socket and the lock; the run it was executing ended, not Running.
    expect(existsSync(join(dataDir, 'cellflow-admin.sock'))).toBe(false);
    expect(existsSync(join(dataDir, 'cellflow.lock'))).toBe(false);
    // The server is gone, so the embedded store may be opened here: nothing was left Running.
    const store = await openPgliteStore(dataDir);
    try {
      const workspace = await store.ensureWorkspace('restart');
      const left = await store.getRun(workspace.id, again.body.run.id);
      expect(left?.state).not.toBe('Running');
      expect(
        left?.taskRuns.filter(
          t => t.state === 'Running' || t.state === 'Retrying'
        )
      ).toEqual([]);
    } finally {
      await store.close();
    }
  }, 120_000);
});
