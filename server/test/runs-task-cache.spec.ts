/**
 * Task caching end to end on a real `cellflow server` (real store, sandboxed real kernels) driven by
 * the CLI: `cellflow run --watch` misses, then hits (the task is "Cached (from run …)" and a downstream
 * task reads the counter the cached task did not bump and uses its restored variables), `--refresh-cache`
 * runs it again, and another workspace with the same notebook never sees the first one's entry.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { notebook } from './runs-helpers.js';
import {
  cellflow,
  createKey,
  startServer,
  stopChild,
  type ServerChild
} from './support/cli-child.js';

let dir: string;
let server: ServerChild;
let alphaKey: string;
let betaKey: string;

async function call(
  key: string,
  method: string,
  path: string,
  body?: unknown
): Promise<{ status: number; body: any }> {
  const response = await fetch(server.url + path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' })
    },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// The flow's working folder (per flow, in the data dir) keeps the counter from run to run.
const CELLS = [
  '%%task extract --cache-for 1h\n' +
    'import pathlib\n' +
    "counter = pathlib.Path('extract.count')\n" +
    "counter.write_text(str(int(counter.read_text()) + 1) if counter.exists() else '1')\n" +
    "rows = [{'id': i} for i in range(1, 5)]\n" +
    "print('extracted', len(rows))",
  '%%task load --after extract\n' +
    "print('load sees count', pathlib.Path('extract.count').read_text(), 'sum', sum(r['id'] for r in rows))"
];

async function deploy(key: string): Promise<string> {
  const deployed = await call(key, 'POST', '/api/flows', {
    name: 'cached-etl',
    notebook: notebook(CELLS)
  });
  expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
  return deployed.body.flow.id;
}

/** `cellflow run FLOW --watch [...]`: resolves once the run ended (the CLI follows its events). */
async function run(key: string, flow: string, extra: string[] = []) {
  const result = await cellflow(['run', flow, '--watch', ...extra], {
    CELLFLOW_API_URL: server.url,
    CELLFLOW_API_KEY: key,
    CELLFLOW_CONFIG_DIR: join(dir, 'config')
  });
  expect(result.code, result.stdout + result.stderr).toBe(0);
  const id = result.stdout.split('\n')[0].trim();
  const detail = await call(key, 'GET', `/api/runs/${id}`);
  const logs = await call(key, 'GET', `/api/runs/${id}/logs`);
  const task = (name: string) =>
    detail.body.run.taskRuns.find((t: any) => t.taskName === name);
  const text = JSON.stringify(logs.body);
  return { id, task, text };
}

beforeAll(async () => {
  dir = await mkdtemp(join('/var/tmp', 'cellflow-task-cache-'));
  server = await startServer(join(dir, 'data'));
  alphaKey = await createKey(server, 'alpha', join(dir, 'config'));
  betaKey = await createKey(server, 'beta', join(dir, 'config'));
}, 120_000);

afterAll(async () => {
  await stopChild(server?.process);
  if (dir) {
    await rm(dir, { recursive: true, force: true });
  }
});

it('misses, hits without executing, refreshes on --refresh-cache, and keeps entries per workspace', async () => {
  const flow = await deploy(alphaKey);

  const first = await run(alphaKey, flow);
  expect(first.task('extract').state).toBe('Completed');
  expect(first.task('extract').stateReason).toBeNull();
  expect(first.text).toContain('load sees count 1 sum 10');

  const second = await run(alphaKey, flow);
  expect(second.task('extract')).toMatchObject({
    state: 'Completed',
    stateReason: `Cached (from run ${first.id.slice(0, 8)})`
  });
  // Not executed (the counter is still 1), its variables restored for the downstream task.
  expect(second.text).toContain('load sees count 1 sum 10');
  // Its outputs are shown again, from the cached attempt.
  expect(JSON.stringify(second.task('extract').attempts)).toContain(
    'extracted 4'
  );

  const refreshed = await run(alphaKey, flow, ['--refresh-cache']);
  expect(refreshed.task('extract').stateReason).toBeNull();
  expect(refreshed.text).toContain('load sees count 2 sum 10');
  const third = await run(alphaKey, flow);
  expect(third.task('extract').stateReason).toBe(
    `Cached (from run ${refreshed.id.slice(0, 8)})`
  );

  // The same notebook in another workspace: same key, but never alpha's entry.
  const betaFlow = await deploy(betaKey);
  const beta = await run(betaKey, betaFlow);
  expect(beta.task('extract').stateReason).toBeNull();
  expect(beta.text).toContain('load sees count 1 sum 10');
}, 180_000);
