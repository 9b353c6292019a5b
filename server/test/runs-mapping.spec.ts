/**
 * A mapped task through the server's executor and the real (PGlite) store: each element is a task run
 * of its own (`fetch[0]`, ...) with its own attempts, outputs and logs, made by the recorder when the
 * run loop reports it; the run's task list keeps the elements after their task.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { RunService } from '../src/runs/service.js';
import { openPgliteStore } from '../src/store/index.js';
import type { FlowRunState, Store } from '../src/store/store.js';
import {
  KernelLog,
  WaitingHub,
  deploy,
  notebook,
  python
} from './runs-helpers.js';

let store: Store;
let dataDir: string;
let workspaceId: string;
const hub = new WaitingHub();
const kernels = new KernelLog();
const services: RunService[] = [];
const ends = new Map<string, (state: FlowRunState) => void>();

beforeAll(async () => {
  store = await openPgliteStore();
  dataDir = await mkdtemp(join(tmpdir(), 'cellflow-map-'));
  workspaceId = (await store.ensureWorkspace('map')).id;
});

afterEach(async () => {
  await Promise.all(services.splice(0).map(s => s.close()));
  await kernels.killAll();
});

afterAll(async () => {
  await kernels.killAll();
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function run(name: string, cells: string[]) {
  const s = new RunService({
    store,
    hub,
    dataDir,
    kernelPython: python,
    recheckMs: 60_000,
    onKernel: kernels.add,
    onRunEnded: (r, state) => ends.get(r.id)?.(state)
  });
  services.push(s);
  s.start();
  const { flow } = await deploy(store, workspaceId, name, notebook(cells));
  const created = await store.createRun({
    workspaceId,
    flowId: flow.id,
    trigger: 'manual',
    parameters: {}
  });
  const state = await new Promise<FlowRunState>(resolve => {
    ends.set(created.id, resolve);
    s.wake();
  });
  const detail = (await store.getRun(workspaceId, created.id))!;
  return { state, detail };
}

describe('a mapped task on the server', () => {
  it('stores each element as a task run with its own attempts, outputs and logs', async () => {
    const { state, detail } = await run('mapped', [
      '%%task make\nurls = [1, 2, 3, 4, 5]\ntries = {}',
      '%%task fetch --map url=urls --retries 1\ntries[url] = tries.get(url, 0) + 1\nif url == 3 and tries[url] == 1:\n    raise ConnectionError("flaky")\nprint("got", url)\nurl * 10',
      '%%task total\nprint("total", sum(fetch_results))'
    ]);
    expect(state).toBe('Completed');
    expect(detail.taskRuns.map(t => [t.taskName, t.state])).toEqual([
      ['make', 'Completed'],
      ['fetch', 'Completed'],
      ['total', 'Completed'],
      ['fetch[0]', 'Completed'],
      ['fetch[1]', 'Completed'],
      ['fetch[2]', 'Completed'],
      ['fetch[3]', 'Completed'],
      ['fetch[4]', 'Completed']
    ]);
    const third = detail.taskRuns.find(t => t.taskName === 'fetch[2]')!;
    expect(third.attemptList.map(a => a.state)).toEqual([
      'Failed',
      'Completed'
    ]);
    const logs = await store.listLogLines(workspaceId, detail.id, {
      taskName: 'fetch[2]'
    });
    expect(logs.map(l => l.text)).toContain('got 3');
    const total = await store.listLogLines(workspaceId, detail.id, {
      taskName: 'total'
    });
    expect(total.map(l => l.text)).toContain('total 150');
    // The executed notebook's fetch cell: each element's last attempt, in element order.
    const executed = (await store.getExecutedNotebook(
      workspaceId,
      detail.id
    )) as { cells: { outputs: Record<string, unknown>[] }[] };
    // A kernel may send one print as several stream messages: adjacent stream text is joined, as
    // nbformat readers show it.
    const shown: string[] = [];
    let previousStream = false;
    for (const o of executed.cells[1].outputs) {
      const stream = o.output_type === 'stream';
      const text = stream
        ? String(o.text)
        : (o.data as Record<string, string>)['text/plain'];
      if (stream && previousStream) {
        shown[shown.length - 1] += text;
      } else {
        shown.push(text);
      }
      previousStream = stream;
    }
    expect(shown).toEqual([
      'got 1\n',
      '10',
      'got 2\n',
      '20',
      'got 3\n',
      '30',
      'got 4\n',
      '40',
      'got 5\n',
      '50'
    ]);
  });

  it('fails the run on a failed element and leaves downstream tasks not run', async () => {
    const { state, detail } = await run('mapped-fails', [
      '%%task make\nurls = ["a", "bad", "c"]',
      '%%task fetch --map url=urls\nif url == "bad":\n    raise ValueError("no " + url)\nurl',
      '%%task load\nprint(fetch_results)'
    ]);
    expect(state).toBe('Failed');
    const states = Object.fromEntries(
      detail.taskRuns.map(t => [t.taskName, t.state])
    );
    expect(states).toEqual({
      make: 'Completed',
      fetch: 'Failed',
      load: 'Cancelled',
      'fetch[0]': 'Completed',
      'fetch[1]': 'Failed',
      'fetch[2]': 'Completed'
    });
    const load = detail.taskRuns.find(t => t.taskName === 'load')!;
    expect(load.stateReason).toBe("upstream task 'fetch' is Failed");
    const fetch = detail.taskRuns.find(t => t.taskName === 'fetch')!;
    expect(fetch.error).toContain('1 of 3 elements failed');
  });
});
