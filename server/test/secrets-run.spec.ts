/**
 * A workspace secret end to end, on a real `cellflow server` with real (sandboxed) kernels: set with
 * the CLI (value on stdin), read by a task through os.environ, masked as *** in that run's logs,
 * outputs, error and executed notebook, absent from another workspace's kernels, and never in clear in
 * the store's files.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { notebook } from './runs-helpers.js';
import {
  ROOT,
  cellflow,
  createKey,
  startServer,
  stopChild,
  type ServerChild
} from './support/cli-child.js';

// A value no notebook, log or file holds by chance.
const VALUE = `tok-${Date.now().toString(36)}-s3cr3t-${process.pid}`;

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

/** Deploys, runs and waits for the run's end on the API (each wait is one request to the server). */
async function runFlow(key: string, name: string, cells: string[]) {
  const deployed = await call(key, 'POST', '/api/flows', {
    name,
    notebook: notebook(cells)
  });
  expect(deployed.status, JSON.stringify(deployed.body)).toBe(201);
  const started = await call(
    key,
    'POST',
    `/api/flows/${deployed.body.flow.id}/runs`,
    {}
  );
  expect(started.status).toBe(201);
  const id: string = started.body.run.id;
  // The event stream of the run would do too; the CLI's `run --watch` is tested elsewhere.
  for (let i = 0; i < 600; i++) {
    const now = await call(key, 'GET', `/api/runs/${id}`);
    if (
      ['Completed', 'Failed', 'Crashed', 'Cancelled'].includes(
        now.body.run.state
      )
    ) {
      return now.body.run;
    }
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`run ${id} did not end`);
}

beforeAll(async () => {
  dir = await mkdtemp(join('/var/tmp', 'cellflow-secrets-run-'));
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

it("reaches its own workspace's tasks through os.environ, masked everywhere the run shows it, and nowhere else", async () => {
  const set = await cellflow(
    [
      'secrets',
      'set',
      'API_TOKEN',
      '--workspace',
      'beta',
      '--data-dir',
      server.dataDir
    ],
    { CELLFLOW_CONFIG_DIR: join(dir, 'config') },
    ROOT,
    `${VALUE}\n`
  );
  expect(set.code, set.stderr).toBe(0);
  expect(set.stdout + set.stderr).not.toContain(VALUE);

  const run = await runFlow(betaKey, 'uses-token', [
    '%%task use\nimport os\ntoken = os.environ["API_TOKEN"]\nprint("token is", token)\nprint("length", len(token))\ndisplay({"text/plain": "shown " + token}, raw=True)\ntoken',
    '%%task fail\nraise RuntimeError("refused " + token)'
  ]);
  expect(run.state).toBe('Failed');
  const detail = await call(betaKey, 'GET', `/api/runs/${run.id}`);
  const logs = await call(betaKey, 'GET', `/api/runs/${run.id}/logs`);
  const executed = await call(betaKey, 'GET', `/api/runs/${run.id}/notebook`);
  const events = await call(
    betaKey,
    'GET',
    `/api/events?runId=${run.id}&limit=1000`
  );
  const texts = (logs.body.lines as { text: string }[]).map(l => l.text);
  // The task read it: its length is the value's.
  expect(texts).toContain(`length ${VALUE.length}`);
  expect(texts).toContain('token is ***');
  for (const shown of [detail.body, logs.body, executed.body, events.body]) {
    expect(JSON.stringify(shown)).not.toContain(VALUE);
  }
  expect(JSON.stringify(executed.body)).toContain('shown ***');
  expect(JSON.stringify(detail.body)).toContain('refused ***');

  // Workspace alpha's kernels have no such variable.
  const other = await runFlow(alphaKey, 'looks-for-token', [
    '%%task look\nimport os\nprint("alpha sees", os.environ.get("API_TOKEN"))'
  ]);
  expect(other.state).toBe('Completed');
  const otherLogs = await call(alphaKey, 'GET', `/api/runs/${other.id}/logs`);
  expect(otherLogs.body.lines.map((l: { text: string }) => l.text)).toContain(
    'alpha sees None'
  );

  // The secret is listed by name only.
  const listed = await call(betaKey, 'GET', '/api/secrets');
  expect(listed.body.secrets.map((s: { name: string }) => s.name)).toEqual([
    'API_TOKEN'
  ]);
  expect(JSON.stringify(listed.body)).not.toContain(VALUE);

  // Never in clear in the store: no file of the data dir holds it, once the server wrote it all out.
  await stopChild(server.process);
  const holders: string[] = [];
  const base64 = Buffer.from(VALUE).toString('base64');
  const search = async (folder: string) => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        await search(path);
      } else if (entry.isFile()) {
        const bytes = await readFile(path);
        if (bytes.includes(VALUE) || bytes.includes(base64)) {
          holders.push(path);
        }
      }
    }
  };
  await search(server.dataDir);
  expect(holders).toEqual([]);
}, 180_000);
