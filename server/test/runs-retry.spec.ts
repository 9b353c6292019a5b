/**
 * Retry-from-failed over a real ipykernel and a real (in-memory PGlite) store: within the retry grace
 * period the retry continues in the failed run's own kernel (upstream state intact, completed tasks
 * kept, not executed); without it, or once the grace is over, the completed tasks are replayed on a new
 * kernel. Kept kernels are shut down on close() and bounded in number.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { ZmqKernel } from '../src/executor/index.js';
import { RETRY_EVENT_TYPE } from '../src/runs/retry.js';
import { RunService, type RunServiceOptions } from '../src/runs/service.js';
import { canTransitionTaskRun } from '../src/store/states.js';
import { openPgliteStore } from '../src/store/index.js';
import type { FlowRun, FlowRunState, Store } from '../src/store/store.js';
import {
  KernelLog,
  WaitingHub,
  alive,
  deploy,
  notebook,
  python
} from './runs-helpers.js';

let store: Store;
let dataDir: string;
let workspaceId: string;
const hub = new WaitingHub();
const kernels = new KernelLog();
const kernelOf = new Map<string, ZmqKernel>();
const services: RunService[] = [];
const ends = new Map<string, (state: FlowRunState) => void>();
const ended = new Map<string, FlowRunState>();

beforeAll(async () => {
  store = await openPgliteStore();
  dataDir = await mkdtemp(join(tmpdir(), 'cellflow-retry-'));
  workspaceId = (await store.ensureWorkspace('retry')).id;
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

function service(options: Partial<RunServiceOptions> = {}): RunService {
  const s = new RunService({
    store,
    hub,
    dataDir,
    kernelPython: python,
    recheckMs: 60_000,
    interruptGraceMs: 3000,
    onKernel: (runId, kernel) => {
      kernels.add(runId, kernel);
      kernelOf.set(runId, kernel as ZmqKernel);
    },
    onRunEnded: (run, state) => {
      ended.set(run.id, state);
      ends.get(run.id)?.(state);
    },
    ...options
  });
  services.push(s);
  s.start();
  return s;
}

function endOf(run: FlowRun): Promise<FlowRunState> {
  const known = ended.get(run.id);
  if (known) {
    return Promise.resolve(known);
  }
  return new Promise(resolve => ends.set(run.id, resolve));
}

function kernel(run: FlowRun): ZmqKernel {
  const k = kernelOf.get(run.id);
  if (!k) {
    throw new Error(`run ${run.id} had no kernel`);
  }
  return k;
}

/**
 * `make` puts a random token in the kernel and changes a parameter; `use` (after a setup cell) fails
 * until the flag file exists, then prints what the kernel holds: token, how often `make`, the setup
 * and nothing else ran in this kernel, and the parameter as `make` left it.
 */
let flows = 0;
async function failingFlow() {
  ++flows;
  const nb = notebook([
    { source: 'label = "default"', tags: ['parameters'] },
    '%%task make\nimport random\ntoken = random.random()\nmake_runs = globals().get("make_runs", 0) + 1\nlabel = label + "!"\nprint("token", token)',
    'setup_runs = globals().get("setup_runs", 0) + 1',
    `%%task use\nimport os\nif not os.path.exists("fixed"):\n    raise RuntimeError("target down")\nprint("token", token, "make_runs", make_runs, "setup_runs", setup_runs, "label", label)`
  ]);
  const { flow } = await deploy(store, workspaceId, `retry-${flows}`, nb);
  // In the kernel's own folder: the sandbox shows a kernel its run's folder, not the data dir.
  const flag = join(dataDir, 'flows', flow.id, 'fixed');
  const parameters = { label: 'x' };
  const failed = await store.createRun({
    workspaceId,
    flowId: flow.id,
    trigger: 'manual',
    parameters
  });
  return { flag, flow, failed, parameters };
}

/** As the API does it: a run with the same version and parameters, then the event naming the retried run. */
async function retryOf(
  failed: FlowRun,
  parameters = failed.parameters
): Promise<FlowRun> {
  const retry = await store.createRun({
    workspaceId,
    flowId: failed.flowId,
    flowVersion: failed.flowVersion,
    trigger: 'retry',
    state: 'Pending',
    parameters
  });
  await store.appendEvent({
    workspaceId,
    flowId: failed.flowId,
    flowRunId: retry.id,
    type: RETRY_EVENT_TYPE,
    payload: { retryOf: failed.id }
  });
  for (const s of services) {
    s.wake();
  }
  return retry;
}

async function detail(runId: string) {
  const run = await store.getRun(workspaceId, runId);
  if (!run) {
    throw new Error(`run ${runId} is gone`);
  }
  return run;
}

function taskOf(run: Awaited<ReturnType<typeof detail>>, name: string) {
  const t = run.taskRuns.find(t => t.taskName === name);
  if (!t) {
    throw new Error(`no task run ${name}`);
  }
  return t;
}

async function logText(runId: string, task: string): Promise<string[]> {
  const lines = await store.listLogLines(workspaceId, runId, {
    taskName: task
  });
  return lines.filter(l => l.stream === 'stdout').map(l => l.text);
}

async function reasons(runId: string, task: string) {
  const events = await store.listEvents({
    workspaceId,
    flowRunId: runId,
    limit: 10_000
  });
  return events
    .filter(e => e.type === 'task_run.state' && e.payload.taskName === task)
    .map(e => [e.payload.to, e.payload.reason]);
}

function tokenIn(line: string | undefined): string {
  const token = /^token (\S+)/.exec(line ?? '')?.[1];
  if (!token) {
    throw new Error(`no token in ${JSON.stringify(line)}`);
  }
  return token;
}

// Pending → Completed makes a kept task a task run with no attempt; until the state rules allow it, the
// recorder goes through one empty attempt (see RunRecorder.keep).
const keptAttempts = canTransitionTaskRun('Pending', 'Completed') ? 0 : 1;

describe('retry from failed', () => {
  it('continues in the failed run’s kernel within the grace: upstream state intact, completed tasks kept', async () => {
    const { flag, failed } = await failingFlow();
    service({ retryGraceMs: 600_000 });
    expect(await endOf(failed)).toBe('Failed');
    const [made] = await logText(failed.id, 'make');
    const token = tokenIn(made);
    const failedKernel = kernel(failed);
    expect(alive(failedKernel.pid)).toBe(true);

    await writeFile(flag, '');
    const retry = await retryOf(failed);
    expect(await endOf(retry)).toBe('Completed');

    // The same process, and a kernel that still holds what the failed run put in it.
    expect(kernel(retry)).toBe(failedKernel);
    const [used] = await logText(retry.id, 'use');
    console.log(`failed run's token ${token}; the retry's task saw: ${used}`);
    // make ran once, the setup of `use` once (it ran before `use` failed), the parameters cell and the
    // injection not again (label keeps make's "!").
    expect(used).toBe(`token ${token} make_runs 1 setup_runs 1 label x!`);

    const done = await detail(retry.id);
    const make = taskOf(done, 'make');
    expect(make.state).toBe('Completed');
    expect(make.attempts).toBe(keptAttempts);
    expect(make.attemptList.every(a => a.outputs.length === 0)).toBe(true);
    expect(await logText(retry.id, 'make')).toEqual([]);
    const kept = `kept from run ${failed.id} (same kernel)`;
    expect((await reasons(retry.id, 'make')).at(-1)).toEqual([
      'Completed',
      kept
    ]);
    expect(taskOf(done, 'use')).toMatchObject({
      state: 'Completed',
      attempts: 1
    });
    expect(await reasons(retry.id, 'use')).toEqual([
      ['Running', null],
      ['Completed', null]
    ]);

    // The executed notebook shows the kept task's output from the run that produced it.
    const executed = (await store.getExecutedNotebook(
      workspaceId,
      retry.id
    )) as { cells: { outputs: { text?: string | string[] }[] }[] };
    const text = (cell: number) =>
      executed.cells[cell].outputs
        .map(o => (Array.isArray(o.text) ? o.text.join('') : (o.text ?? '')))
        .join('');
    expect(text(1)).toBe(`token ${token}\n`);
    expect(text(3)).toBe(`${used}\n`);
  });

  it("runs the failed task's setup again from the setup cell that failed, not the ones before it", async () => {
    ++flows;
    const nb = notebook([
      '%%task make\nimport random\ntoken = random.random()',
      's1_runs = globals().get("s1_runs", 0) + 1',
      `import os\nif not os.path.exists("setup-fixed"):\n    raise RuntimeError("setup target down")\ns2_runs = globals().get("s2_runs", 0) + 1`,
      '%%task use\nprint("s1", s1_runs, "s2", s2_runs)'
    ]);
    const { flow } = await deploy(store, workspaceId, `setup-${flows}`, nb);
    const failed = await store.createRun({
      workspaceId,
      flowId: flow.id,
      trigger: 'manual'
    });
    service({ retryGraceMs: 600_000 });
    expect(await endOf(failed)).toBe('Failed');
    expect((await detail(failed.id)).error).toContain('setup target down');

    await writeFile(join(dataDir, 'flows', flow.id, 'setup-fixed'), '');
    const retry = await retryOf(failed);
    expect(await endOf(retry)).toBe('Completed');
    expect(kernel(retry)).toBe(kernel(failed));
    expect(await logText(retry.id, 'use')).toEqual(['s1 1 s2 1']);
  });

  it('continues in the kernel again when the retry fails too (a retry of the retry)', async () => {
    const { flag, failed } = await failingFlow();
    service({ retryGraceMs: 600_000 });
    expect(await endOf(failed)).toBe('Failed');
    const token = tokenIn((await logText(failed.id, 'make'))[0]);

    const first = await retryOf(failed);
    expect(await endOf(first)).toBe('Failed');
    expect(kernel(first)).toBe(kernel(failed));
    await writeFile(flag, '');
    const second = await retryOf(first);
    expect(await endOf(second)).toBe('Completed');
    expect(kernel(second)).toBe(kernel(failed));
    expect(await logText(second.id, 'use')).toEqual([
      `token ${token} make_runs 1 setup_runs 1 label x!`
    ]);
    expect((await reasons(second.id, 'make')).at(-1)).toEqual([
      'Completed',
      `kept from run ${first.id} (same kernel)`
    ]);
  });

  it('replays the completed tasks on a new kernel when no kernel is kept (grace 0)', async () => {
    const { flag, failed } = await failingFlow();
    service({ retryGraceMs: 0 });
    expect(await endOf(failed)).toBe('Failed');
    const token = tokenIn((await logText(failed.id, 'make'))[0]);
    // Not kept: it was shut down before the run's end was written.
    expect(kernel(failed).dead).toBe(true);

    await writeFile(flag, '');
    const retry = await retryOf(failed);
    expect(await endOf(retry)).toBe('Completed');
    expect(kernel(retry)).not.toBe(kernel(failed));
    const replayedToken = tokenIn((await logText(retry.id, 'make'))[0]);
    const [used] = await logText(retry.id, 'use');
    console.log(
      `failed run's token ${token}; the replayed run's token ${replayedToken}`
    );
    expect(replayedToken).not.toBe(token);
    expect(used).toBe(
      `token ${replayedToken} make_runs 1 setup_runs 1 label x!`
    );
    const replayed = `replayed: completed in run ${failed.id}`;
    expect(await reasons(retry.id, 'make')).toEqual([
      ['Running', replayed],
      ['Completed', replayed]
    ]);
    expect(taskOf(await detail(retry.id), 'make').attempts).toBe(1);
  });

  it('replays once the grace period is over and the kept kernel was shut down', async () => {
    const { flag, failed } = await failingFlow();
    service({ retryGraceMs: 1 });
    expect(await endOf(failed)).toBe('Failed');
    const exit = await kernel(failed).exited;
    // Shut down by request (the grace timer), not killed.
    expect(exit.signal).toBeNull();

    await writeFile(flag, '');
    const retry = await retryOf(failed);
    expect(await endOf(retry)).toBe('Completed');
    expect(kernel(retry)).not.toBe(kernel(failed));
    expect((await reasons(retry.id, 'make'))[0]).toEqual([
      'Running',
      `replayed: completed in run ${failed.id}`
    ]);
  });

  it('replays, and shuts the kept kernel down, when the retry does not have the same parameters', async () => {
    const { flag, failed } = await failingFlow();
    service({ retryGraceMs: 600_000 });
    expect(await endOf(failed)).toBe('Failed');
    await writeFile(flag, '');
    // The API copies the parameters; a run written otherwise cannot continue in that kernel.
    const retry = await retryOf(failed, { label: 'y' });
    expect(await endOf(retry)).toBe('Completed');
    expect(kernel(retry)).not.toBe(kernel(failed));
    expect(kernel(failed).dead).toBe(true);
    expect((await logText(retry.id, 'use'))[0]).toMatch(/ label y!$/);
    expect((await reasons(retry.id, 'make'))[0]).toEqual([
      'Running',
      `replayed: completed in run ${failed.id}`
    ]);
  });

  it('does not keep the kernel of a cancelled run', async () => {
    const nb = notebook([
      `%%task wait\nimport os, time\nprint("waiting", flush=True)\nwhile not os.path.exists("gate"):\n    time.sleep(0.02)`
    ]);
    const { flow } = await deploy(store, workspaceId, `cancel-${++flows}`, nb);
    const run = await store.createRun({
      workspaceId,
      flowId: flow.id,
      trigger: 'manual'
    });
    const s = service({ retryGraceMs: 600_000 });
    await hub.until('the task to run', async () =>
      (await logText(run.id, 'wait')).includes('waiting')
    );
    expect(await s.cancel(run.id)).toBe(true);
    expect(await endOf(run)).toBe('Cancelled');
    // Shut down before the run's end was written, not kept.
    expect(kernel(run).dead).toBe(true);
    expect(alive(kernel(run).pid)).toBe(false);
  });

  it('shuts the kept kernels down on close(), leaving no kernel process', async () => {
    const a = await failingFlow();
    const b = await failingFlow();
    const s = service({ retryGraceMs: 600_000 });
    expect(await endOf(a.failed)).toBe('Failed');
    expect(await endOf(b.failed)).toBe('Failed');
    const pids = [kernel(a.failed).pid, kernel(b.failed).pid];
    expect(pids.map(alive)).toEqual([true, true]);

    await s.close();
    expect(pids.map(alive)).toEqual([false, false]);
  });

  it('keeps at most maxKeptKernels, shutting the oldest down first', async () => {
    const a = await failingFlow();
    const s = service({
      retryGraceMs: 600_000,
      maxKeptKernels: 1,
      maxConcurrentRuns: 1
    });
    expect(await endOf(a.failed)).toBe('Failed');
    expect(alive(kernel(a.failed).pid)).toBe(true);
    const b = await failingFlow();
    s.wake();
    expect(await endOf(b.failed)).toBe('Failed');
    await kernel(a.failed).exited;
    expect(alive(kernel(b.failed).pid)).toBe(true);

    // The evicted run's retry replays; the kept one's continues in its kernel.
    await writeFile(a.flag, '');
    await writeFile(b.flag, '');
    const retryA = await retryOf(a.failed);
    expect(await endOf(retryA)).toBe('Completed');
    expect(kernel(retryA)).not.toBe(kernel(a.failed));
    const retryB = await retryOf(b.failed);
    expect(await endOf(retryB)).toBe('Completed');
    expect(kernel(retryB)).toBe(kernel(b.failed));
  });

  it('cellflow server --retry-grace refuses a bad number of seconds, naming the option', () => {
    const bin = fileURLToPath(new URL('../bin/cellflow.js', import.meta.url));
    const result = spawnSync(
      process.execPath,
      [bin, 'server', '--retry-grace', '-5'],
      { encoding: 'utf8', env: { ...process.env, CELLFLOW_DATA_DIR: dataDir } }
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      '--retry-grace must be a number of seconds of at least 0, got "-5"'
    );
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
