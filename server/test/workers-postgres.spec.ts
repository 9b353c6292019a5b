/**
 * Beyond one machine: one API server without an executor (`cellflow server --no-executor`) and
 * `cellflow worker`s, real processes on one real PostgreSQL, real sandboxed ipykernels. Workers share
 * the runs of several flows; a worker killed with -9 loses its run within its lease and the flow's
 * retry runs it on the other; a run of pool `gpu` waits, saying so, until a worker of that pool starts;
 * SIGTERM drains a worker (its run ends Completed, it claims nothing new, then it exits 0); a worker
 * started with `--kernel-gateway` runs its pool's flows on a real Enterprise Gateway's kernels.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  BIN,
  ROOT,
  cellflow,
  createKey,
  startPrinting,
  type ServerChild
} from './support/cli-child.js';
// @ts-expect-error: a plain ES module of the benchmarks, shared with bench/workers.mjs
import { startEnterpriseGateway } from '../../bench/enterprise-gateway.mjs';
import { notebook } from './runs-helpers.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

const LEASE_S = 3;

let pg: TestPostgres;
let dir: string;
let server: ServerChild;
let key: string;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

interface Worker {
  process: ChildProcess;
  health: string;
  dataDir: string;
  name: string;
}

let workerCount = 0;
async function startWorker(args: string[] = []): Promise<Worker> {
  const dataDir = join(dir, `worker-${++workerCount}`);
  const { process: child, match } = await startPrinting(
    process.execPath,
    [
      BIN,
      'worker',
      '--health-port',
      '0',
      '--data-dir',
      dataDir,
      '--lease',
      String(LEASE_S),
      '--name',
      `w${workerCount}`,
      ...args
    ],
    /health on (http:\/\/\S+)\/health/,
    env
  );
  children.push(child);
  return {
    process: child,
    health: `${match[1]}/health`,
    dataDir,
    name: `w${workerCount}`
  };
}

async function request<T>(
  method: string,
  path: string,
  body?: unknown
): Promise<T> {
  const response = await fetch(server.url + path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' })
    },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  if (!response.ok) {
    throw new Error(
      `${method} ${path}: ${response.status} ${await response.text()}`
    );
  }
  return (await response.json()) as T;
}

/** Waits for `check` to give a value, asking again every 100 ms (the API is the only window here). */
async function until<T>(
  what: string,
  check: () => Promise<T | null | undefined | false>,
  timeoutMs = 60_000
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
}

interface Run {
  id: string;
  state: string;
  stateReason?: string | null;
  trigger: string;
  waitingFor?: string;
  endedAt: string | null;
  error?: string | null;
}

/** A flow of one task that prints its working folder (under the executing worker's data dir). */
async function deployFlow(name: string, sleepS: number): Promise<string> {
  const nb = notebook([
    `%%task work\nimport os, time\nprint("cwd", os.getcwd(), flush=True)\ntime.sleep(${sleepS})`
  ]);
  const { flow } = await request<{ flow: { id: string } }>(
    'POST',
    '/api/flows',
    { name, notebook: nb }
  );
  return flow.id;
}

const startRun = async (flowId: string) =>
  (await request<{ run: Run }>('POST', `/api/flows/${flowId}/runs`, {})).run;
const getRun = async (runId: string) =>
  (await request<{ run: Run }>('GET', `/api/runs/${runId}`)).run;

/** Which worker executed the run: its kernel's folder is under that worker's data dir. */
async function executedBy(runId: string, workers: Worker[]): Promise<string> {
  const { lines } = await request<{ lines: { text: string }[] }>(
    'GET',
    `/api/runs/${runId}/logs`
  );
  const cwd = lines.map(l => l.text).find(t => t.startsWith('cwd '));
  const worker = workers.find(w => cwd?.includes(w.dataDir));
  return worker ? worker.dataDir : `unknown (${cwd ?? 'no cwd line'})`;
}

beforeAll(async () => {
  pg = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'cellflow-workers-'));
  env = {
    ...process.env,
    DATABASE_URL: pg.url,
    // Every process of one deployment shares the secrets key.
    CELLFLOW_SECRETS_KEY: randomBytes(32).toString('base64'),
    VIRTUAL_ENV: join(ROOT, '.venv')
  };
  const started = await startPrinting(
    process.execPath,
    [
      BIN,
      'server',
      '--port',
      '0',
      '--data-dir',
      join(dir, 'api'),
      '--no-executor',
      '--lease',
      String(LEASE_S)
    ],
    /listening on (http:\/\/\S+)/,
    env
  );
  children.push(started.process);
  server = {
    process: started.process,
    url: started.match[1],
    dataDir: join(dir, 'api')
  };
  key = await createKey(server, 'team', join(dir, 'config'));
}, 120_000);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('an API server without an executor, and workers on one PostgreSQL', () => {
  it('leaves runs Pending, saying they wait for a worker, until workers come; two workers share the runs of several flows', async () => {
    const flows = [await deployFlow('alpha', 2), await deployFlow('beta', 2)];
    const runs = [];
    for (const flowId of [...flows, ...flows]) {
      runs.push(await startRun(flowId));
    }
    // Nobody executes: the API server has no executor.
    const waiting = await getRun(runs[0].id);
    expect(waiting).toMatchObject({
      state: 'Pending',
      waitingFor: 'a worker of pool default'
    });

    const workers = [
      await startWorker(['--max-concurrent-runs', '2']),
      await startWorker(['--max-concurrent-runs', '2'])
    ];
    const ended = await until('every run to end', async () => {
      const now = await Promise.all(runs.map(r => getRun(r.id)));
      return now.every(r => r.endedAt) && now;
    });
    expect(ended.map(r => r.state)).toEqual([
      'Completed',
      'Completed',
      'Completed',
      'Completed'
    ]);
    const by = await Promise.all(runs.map(r => executedBy(r.id, workers)));
    // Each worker takes at most two at once: four 2-second runs are shared.
    expect(new Set(by)).toEqual(new Set(workers.map(w => w.dataDir)));

    const listed = await cellflow(['workers'], {
      CELLFLOW_API_URL: server.url,
      CELLFLOW_API_KEY: key,
      CELLFLOW_CONFIG_DIR: join(dir, 'config')
    });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/w1\s+default\s+ready/);
    expect(listed.stdout).toMatch(/w2\s+default\s+ready/);
    expect(await (await fetch(workers[0].health)).json()).toMatchObject({
      status: 'ok',
      role: 'worker',
      pools: ['default']
    });
  }, 180_000);

  it('crashes the run of a worker killed with -9 within its lease, and the flow retry runs it on the other worker', async () => {
    const flowId = await deployFlow('crashy', 6);
    await request('PATCH', `/api/flows/${flowId}/settings`, { retries: 1 });
    const first = await startRun(flowId);
    await until(
      'the run to be Running',
      async () => (await getRun(first.id)).state === 'Running'
    );
    // The two workers of the first test are there; the one executing the run is killed, once its
    // cwd line says which it is.
    const victimDir = await until('the cwd line', async () => {
      const { lines } = await request<{ lines: { text: string }[] }>(
        'GET',
        `/api/runs/${first.id}/logs`
      );
      return lines.map(l => l.text).find(t => t.startsWith('cwd '));
    });
    const victimIndex = /worker-(\d+)/.exec(victimDir)![1];
    const victim = children.find(c => c.spawnargs.includes(`w${victimIndex}`))!;
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    await once(victim, 'exit');

    const crashed = await until(
      'the run to crash',
      async () => {
        const run = await getRun(first.id);
        return run.state === 'Crashed' && run;
      },
      30_000
    );
    const seen = Date.parse(crashed.endedAt!) - killedAt;
    expect(seen).toBeLessThan((LEASE_S + 2) * 1000);
    expect(crashed.stateReason).toMatch(/lease/);

    const retry = await until('the retry run', async () => {
      const { runs } = await request<{ runs: Run[] }>(
        'GET',
        `/api/runs?flowId=${flowId}`
      );
      return runs.find(r => r.trigger === 'retry');
    });
    const done = await until('the retry to end', async () => {
      const run = await getRun(retry.id);
      return run.endedAt && run;
    });
    expect(done.state).toBe('Completed');
    const { lines } = await request<{ lines: { text: string }[] }>(
      'GET',
      `/api/runs/${retry.id}/logs`
    );
    const cwd = lines.map(l => l.text).find(t => t.startsWith('cwd '))!;
    expect(cwd).not.toContain(`worker-${victimIndex}`);
  }, 180_000);

  it('keeps a run of pool gpu Pending, saying so, until a gpu worker starts; SIGTERM drains a worker', async () => {
    const flowId = await deployFlow('trainer', 3);
    const { flow } = await request<{ flow: { pool: string } }>(
      'PATCH',
      `/api/flows/${flowId}/settings`,
      { pool: 'gpu' }
    );
    expect(flow.pool).toBe('gpu');
    const run = await startRun(flowId);
    // The default workers are there, none serves gpu (and none takes it: the gpu worker runs it below).
    expect(await getRun(run.id)).toMatchObject({
      state: 'Pending',
      waitingFor: 'a worker of pool gpu'
    });
    const runs = await cellflow(['runs', '--flow', flowId], {
      CELLFLOW_API_URL: server.url,
      CELLFLOW_API_KEY: key,
      CELLFLOW_CONFIG_DIR: join(dir, 'config')
    });
    expect(runs.stdout).toContain('Pending (waiting for a worker of pool gpu)');

    // A gpu run on a kernelspec no worker has: the gpu worker fails it (checked below).
    const inR = await request<{ flow: { id: string } }>('POST', '/api/flows', {
      name: 'in-r',
      notebook: notebook(['%%task t\nprint(1)'], {
        kernelspec: { name: 'ir', display_name: 'R', language: 'python' }
      })
    });
    await request('PATCH', `/api/flows/${inR.flow.id}/settings`, {
      pool: 'gpu'
    });
    const irRun = await startRun(inR.flow.id);
    const gpu = await startWorker(['--pool', 'gpu']);
    await until(
      'the gpu run to be Running',
      async () => (await getRun(run.id)).state === 'Running'
    );
    expect((await getRun(run.id)).waitingFor).toBeUndefined();
    // The gpu worker failed the run on a kernelspec it lacks, naming itself and the kernels it has.
    const failed = await until('the ir run to fail', async () => {
      const now = await getRun(irRun.id);
      return now.endedAt && now;
    });
    expect(failed.state).toBe('Failed');
    expect(failed.error).toMatch(
      new RegExp(
        `^kernel 'ir' is not installed on worker ${gpu.name} \\(it has: (.+, )?python3(, .+)?\\)$`
      )
    );
    // SIGTERM while it runs: the worker drains, its run ends Completed, then it exits 0.
    const exited = once(gpu.process, 'exit');
    gpu.process.kill('SIGTERM');
    const health = await until('the worker to say it drains', async () => {
      const answer = await fetch(gpu.health).catch(() => null);
      return answer && answer.status === 503 && answer.json();
    });
    expect(health).toMatchObject({ status: 'draining', running: 1 });
    // Meanwhile a second gpu run is not taken by the draining worker.
    const second = await startRun(flowId);
    const [code] = await exited;
    expect(code).toBe(0);
    expect((await getRun(run.id)).state).toBe('Completed');
    expect(await getRun(second.id)).toMatchObject({
      state: 'Pending',
      waitingFor: 'a worker of pool gpu'
    });
    expect(await executedBy(run.id, [gpu])).toBe(gpu.dataDir);
  }, 180_000);

  it('runs the flows of its pool on the kernels of Enterprise Gateway when started with --kernel-gateway', async () => {
    const gateway = await startEnterpriseGateway();
    try {
      const flowId = await deployFlow('remote', 0);
      await request('PATCH', `/api/flows/${flowId}/settings`, {
        pool: 'remote'
      });
      const run = await startRun(flowId);
      const started = await startPrinting(
        process.execPath,
        [
          BIN,
          'worker',
          '--health-port',
          '0',
          '--data-dir',
          join(dir, 'worker-remote'),
          '--pool',
          'remote',
          '--kernel-gateway',
          gateway.url
        ],
        /Kernels start on the kernel gateway (\S+) \(isolated by the gateway\)\nCellflow worker of pool\(s\) remote; health on/,
        // The token from the environment, as the README says: not on the command line.
        { ...env, CELLFLOW_GATEWAY_TOKEN: gateway.token }
      );
      children.push(started.process);
      expect(started.match[1]).toBe(gateway.url);
      const ended = await until('the remote run to end', async () => {
        const now = await getRun(run.id);
        return now.endedAt && now;
      });
      expect(ended.state).toBe('Completed');
      // Its kernel ran where the gateway runs them: in the gateway's folder, not a worker's.
      const { lines } = await request<{ lines: { text: string }[] }>(
        'GET',
        `/api/runs/${run.id}/logs`
      );
      expect(lines.map(l => l.text)).toEqual([
        expect.stringMatching(/^cwd .*cellflow-eg-/)
      ]);
      const exited = once(started.process, 'exit');
      started.process.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
      // Its warm kernel and its run's kernel were deleted on the gateway.
      expect(await gateway.kernels()).toEqual([]);
    } finally {
      await gateway.stop();
    }
  }, 120_000);
});
