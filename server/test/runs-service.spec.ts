/**
 * The run service over a real ipykernel and a real (in-memory PGlite) store: what a run leaves in the
 * store (states, attempts, outputs, logs, events, the executed notebook) for every way a run can end.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  LEASE_EXPIRED_REASON,
  RunService,
  type RunServiceOptions
} from '../src/runs/service.js';
import { RETRY_EVENT_TYPE } from '../src/runs/retry.js';
import type { ZmqKernel } from '../src/executor/index.js';
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
const services: RunService[] = [];
const ends = new Map<string, (state: FlowRunState) => void>();
const ended = new Map<string, FlowRunState>();

beforeAll(async () => {
  store = await openPgliteStore();
  dataDir = await mkdtemp(join(tmpdir(), 'cellflow-runs-'));
  workspaceId = (await store.ensureWorkspace('runs')).id;
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
    maxConcurrentRuns: 4,
    recheckMs: 60_000,
    interruptGraceMs: 3000,
    onKernel: kernels.add,
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

let flowCount = 0;
async function flowRun(
  cells: Parameters<typeof notebook>[0],
  parameters: Record<string, unknown> = {},
  extra: { trigger?: 'manual' | 'retry'; nb?: ReturnType<typeof notebook> } = {}
) {
  const nb = extra.nb ?? notebook(cells);
  const { flow } = await deploy(store, workspaceId, `flow-${++flowCount}`, nb);
  const run = await store.createRun({
    workspaceId,
    flowId: flow.id,
    trigger: extra.trigger ?? 'manual',
    parameters
  });
  return { flow, run, nb };
}

async function detail(runId: string) {
  const run = await store.getRun(workspaceId, runId);
  if (!run) {
    throw new Error(`run ${runId} is gone`);
  }
  return run;
}

function task(run: Awaited<ReturnType<typeof detail>>, name: string) {
  const t = run.taskRuns.find(t => t.taskName === name);
  if (!t) {
    throw new Error(`no task run ${name}`);
  }
  return t;
}

function streamText(outputs: unknown[]): string {
  return outputs
    .filter(
      (o): o is { output_type: string; text: string } =>
        (o as { output_type: string }).output_type === 'stream'
    )
    .map(o => (Array.isArray(o.text) ? o.text.join('') : o.text))
    .join('');
}

async function taskEvents(runId: string) {
  const events = await store.listEvents({
    workspaceId,
    flowRunId: runId,
    limit: 10_000
  });
  return events
    .filter(e => e.type === 'task_run.state')
    .map(e => e.payload as Record<string, unknown>);
}

describe('RunService', () => {
  it('runs a flow: outputs, logs, events and the executed notebook are stored', async () => {
    const { run } = await flowRun([
      '%%task extract\nrows = [1, 2, 3]\nprint("extracted", len(rows))\nprint("partial line", end="")',
      '%%task load\nprint("loaded", sum(rows))\nsum(rows)'
    ]);
    service();
    expect(await endOf(run)).toBe('Completed');

    const done = await detail(run.id);
    expect(done.state).toBe('Completed');
    expect(done.leaseOwner).toBeNull();
    expect(done.taskRuns.map(t => [t.taskName, t.state, t.attempts])).toEqual([
      ['extract', 'Completed', 1],
      ['load', 'Completed', 1]
    ]);
    const load = task(done, 'load').attemptList[0];
    expect(load.state).toBe('Completed');
    expect(streamText(load.outputs)).toBe('loaded 6\n');
    expect(load.outputs).toContainEqual(
      expect.objectContaining({
        output_type: 'execute_result',
        data: { 'text/plain': '6' }
      })
    );
    expect(load.outputsTruncated).toBe(false);

    const logs = await store.listLogLines(workspaceId, run.id);
    expect(logs.map(l => [l.taskName, l.attempt, l.stream, l.text])).toEqual([
      ['extract', 1, 'stdout', 'extracted 3'],
      // A line without its newline is kept when the attempt ends.
      ['extract', 1, 'stdout', 'partial line'],
      ['load', 1, 'stdout', 'loaded 6']
    ]);
    const events = await store.listEvents({ workspaceId, flowRunId: run.id });
    const logEvents = events.filter(e => e.type === 'log');
    expect(
      logEvents.flatMap(e =>
        (e.payload.lines as { text: string }[]).map(l => l.text)
      )
    ).toEqual(['extracted 3', 'partial line', 'loaded 6']);
    expect(
      events.filter(e => e.type === 'flow_run.state').map(e => e.payload.to)
    ).toEqual(['Running', 'Completed']);

    const executed = (await store.getExecutedNotebook(workspaceId, run.id)) as {
      cells: {
        id: string;
        outputs: unknown[];
        execution_count: number | null;
      }[];
      metadata: { cellflow: { run: { id: string; state: string } } };
    };
    expect(streamText(executed.cells[0].outputs)).toBe(
      'extracted 3\npartial line'
    );
    expect(streamText(executed.cells[1].outputs)).toBe('loaded 6\n');
    expect(executed.cells[1].execution_count).toEqual(expect.any(Number));
    expect(executed.metadata.cellflow.run).toMatchObject({
      id: run.id,
      state: 'Completed'
    });
  });

  it('retries a task that fails twice and stores all three attempts', async () => {
    const { run } = await flowRun([
      '%%task flaky --retries 2 --retry-delay 0.01\n' +
        'tries = globals().get("tries", 0) + 1\n' +
        'print("try", tries)\n' +
        'if tries < 3:\n    raise ValueError(f"failure {tries}")'
    ]);
    service();
    expect(await endOf(run)).toBe('Completed');
    const flaky = task(await detail(run.id), 'flaky');
    expect(flaky.state).toBe('Completed');
    expect(flaky.attempts).toBe(3);
    expect(
      flaky.attemptList.map(a => [a.attempt, a.state, a.errorValue])
    ).toEqual([
      [1, 'Failed', 'failure 1'],
      [2, 'Failed', 'failure 2'],
      [3, 'Completed', null]
    ]);
    expect(flaky.attemptList.map(a => streamText(a.outputs))).toEqual([
      'try 1\n',
      'try 2\n',
      'try 3\n'
    ]);
    expect((await taskEvents(run.id)).map(e => e.to)).toEqual([
      'Running',
      'AwaitingRetry',
      'Retrying',
      'AwaitingRetry',
      'Retrying',
      'Completed'
    ]);
    // Each wait says when the next attempt starts, so a UI counts down to it (issue 18, flaw 10).
    const waits = (await taskEvents(run.id)).filter(
      e => e.to === 'AwaitingRetry'
    );
    const begun = flaky.attemptList.map(a => a.startedAt.getTime());
    for (const [i, wait] of waits.entries()) {
      const due = Date.parse(String(wait.retryAt));
      expect(due).toBeGreaterThan(begun[i]);
      expect(due).toBeLessThanOrEqual(begun[i + 1]);
    }
    expect(waits).toHaveLength(2);
  });

  it('fails the run once retries are exhausted, with the traceback in the log', async () => {
    const { run } = await flowRun([
      '%%task extract --retries 1 --retry-delay 0.01\nraise ValueError("no data")',
      '%%task load\nprint("never")'
    ]);
    service();
    expect(await endOf(run)).toBe('Failed');
    const done = await detail(run.id);
    expect(done.error).toBe('ValueError: no data');
    expect(task(done, 'extract')).toMatchObject({
      state: 'Failed',
      attempts: 2,
      error: 'ValueError: no data'
    });
    // Stored with why, so a run read again shows it as the live event did (issue 18, flaw 10).
    expect(task(done, 'load')).toMatchObject({
      state: 'Cancelled',
      attempts: 0,
      stateReason: "upstream task 'extract' is Failed"
    });
    const loadEvents = (await taskEvents(run.id)).filter(
      e => e.taskName === 'load'
    );
    expect(loadEvents).toEqual([
      expect.objectContaining({
        to: 'Cancelled',
        reason: "upstream task 'extract' is Failed"
      })
    ]);

    const errors = (await store.listLogLines(workspaceId, run.id)).filter(
      l => l.stream === 'error'
    );
    expect(errors.map(l => l.attempt)).toContain(2);
    const text = errors.map(l => l.text).join('\n');
    expect(text).toContain('Traceback');
    expect(text).toContain('ValueError: no data');
    // Logs are plain text: IPython's colours are stripped.
    expect(text).not.toContain('\u001b[');
    const last = task(done, 'extract').attemptList[1];
    expect(last.traceback?.join('\n')).toContain('no data');
  });

  it('interrupts a task past its timeout and fails it', async () => {
    const { run } = await flowRun([
      '%%task slow --timeout 0.5\nimport time\ntime.sleep(60)'
    ]);
    service();
    expect(await endOf(run)).toBe('Failed');
    const slow = task(await detail(run.id), 'slow');
    expect(slow.state).toBe('Failed');
    expect(slow.error).toMatch(/^TimeoutError: timed out after 0.5 s/);
    expect(slow.attemptList[0].state).toBe('Failed');
  });

  it('crashes the run when the kernel dies (os._exit)', async () => {
    const { run } = await flowRun([
      '%%task die\nimport os\nos._exit(1)',
      '%%task after\nprint("never")'
    ]);
    service();
    expect(await endOf(run)).toBe('Crashed');
    const done = await detail(run.id);
    expect(done.state).toBe('Crashed');
    expect(done.error).toMatch(/Kernel/);
    expect(task(done, 'die')).toMatchObject({ state: 'Crashed' });
    expect(task(done, 'die').attemptList[0].state).toBe('Crashed');
    expect(task(done, 'after').state).toBe('Cancelled');
  });

  it('cancels a running run: the task and the run end Cancelled and the kernel stops', async () => {
    const { run } = await flowRun([
      '%%task wait\nimport time\nprint("started", flush=True)\ntime.sleep(60)',
      '%%task after\nprint("never")'
    ]);
    const s = service();
    await hub.until('the task to print', async () =>
      (await store.listLogLines(workspaceId, run.id)).some(
        l => l.text === 'started'
      )
    );
    expect(await s.cancel('not-a-run')).toBe(false);
    expect(await s.cancel(run.id)).toBe(true);
    expect(await endOf(run)).toBe('Cancelled');
    const done = await detail(run.id);
    expect(done.stateReason).toBe('Cancelled by user');
    expect(task(done, 'wait').state).toBe('Cancelled');
    expect(task(done, 'after').state).toBe('Cancelled');
    const kernel = kernels.kernels.at(-1) as ZmqKernel;
    await kernel.exited;
    expect(alive(kernel.pid)).toBe(false);
    expect(s.running).toEqual([]);
  });

  it('on close, stops the runs executing here: Crashed with the reason, kernels gone', async () => {
    const { run } = await flowRun([
      '%%task wait\nimport time\nprint("started", flush=True)\ntime.sleep(60)'
    ]);
    const s = service();
    await hub.until('the task to print', async () =>
      (await store.listLogLines(workspaceId, run.id)).some(
        l => l.text === 'started'
      )
    );
    await s.close();
    const done = await detail(run.id);
    expect(done.state).toBe('Crashed');
    expect(done.stateReason).toBe(
      'the server stopped while the run was running'
    );
    expect(task(done, 'wait').state).toBe('Cancelled');
    expect(kernels.kernels.at(-1)!.dead).toBe(true);
  });

  it('passes parameters with quotes, newlines and unicode unchanged', async () => {
    const nb = notebook([
      { source: 'text = "default"\nitems = []', tags: ['parameters'] },
      '%%task show\nimport json\nprint(json.dumps({"text": text, "items": items}, ensure_ascii=False))\nprint(repr(text))'
    ]);
    const text = 'it\'s "quoted" \\ back\nsecond line\tü ✓ 日本 🎉 \'\'\' """';
    const items = [{ 'k"ey': "va'lue" }, null, 1.5, 'x\ny'];
    const { run } = await flowRun([], { text, items }, { nb });
    service();
    expect(await endOf(run)).toBe('Completed');
    const out = streamText(
      task(await detail(run.id), 'show').attemptList[0].outputs
    );
    const [json] = out.split('\n');
    expect(JSON.parse(json)).toEqual({ text, items });
    expect(out).toContain('\\n'); // repr keeps the newline escaped: the value is one string
  });

  it('fails a run whose stored parameters do not fit the flow, naming the parameter', async () => {
    const nb = notebook([
      { source: 'count = 1', tags: ['parameters'] },
      '%%task t\nprint(count)'
    ]);
    const { run } = await flowRun([], { count: 'many' }, { nb });
    service();
    expect(await endOf(run)).toBe('Failed');
    const done = await detail(run.id);
    expect(done.error).toContain('count');
    expect(task(done, 't').state).toBe('Cancelled');
  });

  it('runs at most maxConcurrentRuns at once: the next run waits Pending', async () => {
    // In the kernel's own folder: the sandbox shows a kernel its run's folder, not the data dir.
    const cells = [
      `%%task hold\nimport os, time\nprint("holding", flush=True)\nwhile not os.path.exists("gate"):\n    time.sleep(0.01)`
    ];
    const first = await flowRun(cells);
    const second = await flowRun(cells);
    const openGates = () =>
      Promise.all(
        [first, second].map(async ({ flow }) => {
          const folder = join(dataDir, 'flows', flow.id);
          await mkdir(folder, { recursive: true });
          await writeFile(join(folder, 'gate'), '');
        })
      );
    service({ maxConcurrentRuns: 1 });
    await hub.until('the first run to hold', async () =>
      (await store.listLogLines(workspaceId, first.run.id)).some(
        l => l.text === 'holding'
      )
    );
    expect((await store.getRunById(second.run.id))?.state).toBe('Pending');
    await openGates();
    expect(await endOf(first.run)).toBe('Completed');
    expect(await endOf(second.run)).toBe('Completed');
    const a = await store.getRunById(first.run.id);
    const b = await store.getRunById(second.run.id);
    expect(b!.startedAt!.getTime()).toBeGreaterThanOrEqual(
      a!.endedAt!.getTime()
    );
  });

  it('retries a failed run from the failed task, replaying the tasks that completed', async () => {
    const nb = notebook([
      '%%task extract\nrows = [1, 2]\nprint("extract ran")',
      `%%task load\nimport os\nif not os.path.exists("fixed"):\n    raise RuntimeError("target down")\nprint("loaded", len(rows))`
    ]);
    const { run: failed, flow } = await flowRun([], {}, { nb });
    // In the kernel's own folder (the sandbox shows it that one).
    const flag = join(dataDir, 'flows', flow.id, 'fixed');
    // No kept kernel: the retry replays (continuing in the kept kernel: runs-retry.spec.ts).
    service({ retryGraceMs: 0 });
    expect(await endOf(failed)).toBe('Failed');
    await writeFile(flag, '');
    // As the API links them: the retry run, then an event naming the run it retries.
    const retry = await store.createRun({
      workspaceId,
      flowId: flow.id,
      trigger: 'retry'
    });
    await store.appendEvent({
      workspaceId,
      flowId: flow.id,
      flowRunId: retry.id,
      type: RETRY_EVENT_TYPE,
      payload: { retryOf: failed.id }
    });
    services[0].wake();
    expect(await endOf(retry)).toBe('Completed');
    const done = await detail(retry.id);
    expect(done.taskRuns.map(t => [t.taskName, t.state])).toEqual([
      ['extract', 'Completed'],
      ['load', 'Completed']
    ]);
    const events = await taskEvents(retry.id);
    expect(
      events.filter(e => e.taskName === 'extract').map(e => e.reason)
    ).toEqual([
      `replayed: completed in run ${failed.id}`,
      `replayed: completed in run ${failed.id}`
    ]);
    expect(
      events.filter(e => e.taskName === 'load').map(e => e.reason)
    ).toEqual([null, null]);
    expect(streamText(task(done, 'load').attemptList[0].outputs)).toBe(
      'loaded 2\n'
    );
  });

  it('crashes the run when its kernel cannot start, naming the kernel', async () => {
    const { run } = await flowRun(['%%task a\nprint("a")']);
    service({ kernelPython: join(dataDir, 'no-such-python') });
    expect(await endOf(run)).toBe('Crashed');
    const done = await detail(run.id);
    expect(done.stateReason).toBe('the kernel (python3) did not start');
    expect(done.error).toContain('no-such-python');
    expect(task(done, 'a').state).toBe('Cancelled');
  });

  it('crashes a run whose owner stopped renewing its lease', async () => {
    const { run } = await flowRun(['%%task a\nprint("a")']);
    // Another owner claims it and dies at once: its lease runs out and nobody renews it.
    const claimed = await store.claimNextPendingRun({
      owner: 'dead-worker',
      leaseMs: 1
    });
    expect(claimed?.id).toBe(run.id);
    await store.createTaskRuns(run.id, ['a']);
    service({ recheckMs: 20 });
    const crashed = await hub.until('the sweep to crash the run', async () => {
      const now = await detail(run.id);
      return now.state === 'Crashed' ? now : null;
    });
    expect(crashed.stateReason).toBe(LEASE_EXPIRED_REASON);
    expect(task(crashed, 'a').state).toBe('Cancelled');
  });

  it('runs the kernel in the notebook folder under the root dir, else in a folder of the flow', async () => {
    const root = join(dataDir, `root-${Date.now()}`);
    await mkdir(join(root, 'reports', 'daily'), { recursive: true });
    const cells = ['%%task where\nimport os\nprint(os.getcwd())'];
    const inRoot = await flowRun(
      [],
      {},
      {
        nb: notebook(cells, { cellflow: { path: 'reports/daily/etl.ipynb' } })
      }
    );
    const outside = await flowRun(
      [],
      {},
      {
        nb: notebook(cells, { cellflow: { path: '../../etc/etl.ipynb' } })
      }
    );
    service({ rootDir: root });
    expect(await endOf(inRoot.run)).toBe('Completed');
    expect(await endOf(outside.run)).toBe('Completed');
    const cwd = async (runId: string) =>
      (await store.listLogLines(workspaceId, runId))[0].text;
    expect(await cwd(inRoot.run.id)).toBe(join(root, 'reports', 'daily'));
    // A path climbing out of the root dir is not followed.
    expect(await cwd(outside.run.id)).toBe(
      join(dataDir, 'flows', outside.flow.id)
    );
  });

  it('caps the outputs kept per attempt and says so', async () => {
    const { run } = await flowRun([
      '%%task loud\nfor i in range(2000):\n    print("line", i, flush=True)'
    ]);
    service({ outputCapBytes: 4096 });
    expect(await endOf(run)).toBe('Completed');
    const attempt = task(await detail(run.id), 'loud').attemptList[0];
    expect(attempt.outputsTruncated).toBe(true);
    expect(
      Buffer.byteLength(JSON.stringify(attempt.outputs.slice(0, -1)))
    ).toBeLessThanOrEqual(4096);
    expect(streamText(attempt.outputs.slice(-1))).toMatch(/outputs truncated/);
    // The log keeps every line: the cap is for stored outputs.
    const logs = await store.listLogLines(workspaceId, run.id, { limit: 5000 });
    expect(logs.at(-1)?.text).toBe('line 1999');
  });

  it('crashes the run when a store write fails, leaving no task Running', async () => {
    const { run } = await flowRun([
      '%%task a\nprint("a")',
      '%%task b\nprint("b")'
    ]);
    let failures = 0;
    const failing = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'saveAttemptOutputs') {
          return async () => {
            failures++;
            throw new Error('disk full');
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      }
    });
    service({ store: failing });
    expect(await endOf(run)).toBe('Crashed');
    expect(failures).toBe(1);
    const done = await detail(run.id);
    expect(done.stateReason).toBe('a store write failed: disk full');
    expect(
      done.taskRuns
        .map(t => t.state)
        .some(s => s === 'Running' || s === 'Pending')
    ).toBe(false);
  });
});
