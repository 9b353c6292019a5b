/**
 * Unit tests of the run loop over a scripted FlowKernel and a virtual clock: retry, backoff, timeout
 * and cancel logic without real sleeps. The same loop over a real ipykernel is tested in
 * server/test/executor-runflow.spec.ts.
 */
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../backoff.js';
import { parameterInjectionCode } from '../parameters.js';
import {
  ExecuteOptions,
  ExecuteResult,
  FlowKernel,
  KernelDiedError,
  KernelOutput
} from '../kernel.js';
import {
  RunEvent,
  RunOptions,
  TaskStateEvent,
  errorSummary,
  runFlow
} from '../runner.js';
import { FLOW_SPEC_VERSION, FlowSpec, SetupCell, TaskSpec } from '../spec.js';

/**
 * A virtual clock: time moves only when every pending promise chain has settled (checked from a
 * macrotask), then jumps to the earliest timer. The scripted kernel answers in microtasks, so this is
 * deterministic.
 */
class VirtualClock {
  time = 1_000_000;
  readonly sleeps: number[] = [];
  onSleep?: (ms: number) => void;
  private timers: { at: number; resolve: () => void; signal: AbortSignal }[] =
    [];

  now = (): number => this.time;

  sleep = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise(resolve => {
      this.sleeps.push(ms);
      if (signal.aborted) {
        resolve();
        return;
      }
      const timer = { at: this.time + ms, resolve, signal };
      this.timers.push(timer);
      signal.addEventListener('abort', () => {
        this.timers = this.timers.filter(t => t !== timer);
        resolve();
      });
      this.onSleep?.(ms);
      this.schedule();
    });

  private schedule(): void {
    setImmediate(() => {
      this.timers = this.timers.filter(t => !t.signal.aborted);
      if (this.timers.length === 0) {
        return;
      }
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers.shift()!;
      this.time = Math.max(this.time, next.at);
      next.resolve();
      this.schedule();
    });
  }
}

type Step =
  | ExecuteResult
  | { outputs?: KernelOutput[]; result?: ExecuteResult; onCall?: () => void }
  | { hang: 'interruptible' | 'stuck'; onCall?: () => void }
  | { die: true };

/** A FlowKernel test double answering per code string (a list answers successive calls in turn). */
class ScriptedKernel implements FlowKernel {
  readonly calls: { code: string; options?: ExecuteOptions; at: number }[] = [];
  interrupts = 0;
  private counts = new Map<string, number>();
  private hanging: {
    resolve: (r: ExecuteResult) => void;
    interruptible: boolean;
  } | null = null;

  constructor(
    private readonly script: Record<string, Step | Step[]>,
    private readonly clock: VirtualClock
  ) {}

  execute(code: string, options?: ExecuteOptions): Promise<ExecuteResult> {
    this.calls.push({ code, options, at: this.clock.time });
    const entry = this.script[code] ?? {};
    const n = this.counts.get(code) ?? 0;
    this.counts.set(code, n + 1);
    const step = Array.isArray(entry)
      ? entry[Math.min(n, entry.length - 1)]
      : entry;
    if ('die' in step) {
      return Promise.reject(
        new KernelDiedError('The kernel died (exit code 1)')
      );
    }
    if ('hang' in step) {
      return new Promise(resolve => {
        this.hanging = {
          resolve,
          interruptible: step.hang === 'interruptible'
        };
        step.onCall?.();
      });
    }
    if ('status' in step) {
      return Promise.resolve(step);
    }
    step.onCall?.();
    for (const output of step.outputs ?? []) {
      options?.onOutput?.(output);
    }
    return Promise.resolve(
      step.result ?? { status: 'ok', executionCount: this.calls.length }
    );
  }

  async interrupt(): Promise<void> {
    this.interrupts++;
    if (this.hanging?.interruptible) {
      this.hanging.resolve(keyboardInterrupt);
      this.hanging = null;
    }
  }
}

const keyboardInterrupt: ExecuteResult = {
  status: 'error',
  ename: 'KeyboardInterrupt',
  evalue: '',
  traceback: ['KeyboardInterrupt']
};

const valueError: ExecuteResult = {
  status: 'error',
  ename: 'ValueError',
  evalue: 'no data',
  traceback: ['Traceback (most recent call last)', 'ValueError: no data']
};

function cell(id: string, code: string): SetupCell {
  return { cellId: id, cellIndex: 0, code };
}

function task(name: string, overrides: Partial<TaskSpec> = {}): TaskSpec {
  return {
    name,
    cellId: `cell-${name}`,
    cellIndex: 0,
    code: `${name}()`,
    setup: [],
    upstream: [],
    retries: 0,
    retryDelay: 0,
    backoff: 1,
    timeout: null,
    ...overrides
  };
}

function flow(tasks: TaskSpec[], extra: Partial<FlowSpec> = {}): FlowSpec {
  return {
    version: FLOW_SPEC_VERSION,
    name: 'test',
    parameters: [],
    parametersCell: null,
    tasks,
    teardown: [],
    hash: 'x',
    ...extra
  };
}

function harness(script: Record<string, Step | Step[]>) {
  const clock = new VirtualClock();
  const kernel = new ScriptedKernel(script, clock);
  const events: RunEvent[] = [];
  const run = (spec: FlowSpec, options: RunOptions = {}) =>
    runFlow(spec, kernel, {
      now: clock.now,
      sleep: clock.sleep,
      onEvent: e => events.push(e),
      ...options
    });
  const taskStates = (name: string) =>
    events
      .filter(
        (e): e is TaskStateEvent => e.type === 'task-state' && e.task === name
      )
      .map(e => e.state);
  const runStates = () =>
    events.flatMap(e => (e.type === 'run-state' ? [e.state] : []));
  return { clock, kernel, events, run, taskStates, runStates };
}

describe('runFlow order', () => {
  it('runs parameters, injection, setup, tasks and teardown in order', async () => {
    const h = harness({
      'a()': {
        outputs: [{ output_type: 'stream', name: 'stdout', text: 'hi\n' }]
      }
    });
    const spec = flow(
      [
        task('a', { setup: [cell('s1', 'import os'), cell('s2', 'x = 1')] }),
        task('b', { upstream: ['a'] })
      ],
      {
        parametersCell: cell('p', 'n = 3'),
        teardown: [cell('t', 'print("bye")')]
      }
    );
    const result = await h.run(spec, { parametersCode: 'n = 5' });

    expect(h.kernel.calls.map(c => c.code)).toEqual([
      'n = 3',
      'n = 5',
      'import os',
      'x = 1',
      'a()',
      'b()',
      'print("bye")'
    ]);
    const injection = h.kernel.calls[1].options;
    expect(injection?.silent).toBe(true);
    expect(injection?.storeHistory).toBe(false);
    expect(h.kernel.calls[4].options?.storeHistory).toBe(true);
    expect(result.state).toBe('Completed');
    expect(h.runStates()).toEqual(['Running', 'Completed']);
    expect(h.taskStates('a')).toEqual(['Pending', 'Running', 'Completed']);
    expect(result.tasks.map(t => [t.name, t.state, t.attempts.length])).toEqual(
      [
        ['a', 'Completed', 1],
        ['b', 'Completed', 1]
      ]
    );
    expect(result.tasks[0].attempts[0].outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'hi\n' }
    ]);
    const output = h.events.find(e => e.type === 'output');
    expect(output).toMatchObject({
      source: 'task',
      task: 'a',
      attempt: 1,
      cellId: 'cell-a'
    });
  });

  it('injects parameter values as data after the parameters cell', async () => {
    const h = harness({});
    await h.run(flow([task('a')], { parametersCell: cell('p', 'n = 3') }), {
      parameters: { n: 5, name: "it's" }
    });
    const [defaults, injection] = h.kernel.calls;
    expect(defaults.code).toBe('n = 3');
    expect(injection.code).toBe(parameterInjectionCode({ n: 5, name: "it's" }));
    expect(injection.options).toMatchObject({
      silent: true,
      storeHistory: false
    });
  });

  it('injects only what the parameters cell does not set itself, as a cell of its own when asked, and reports it', async () => {
    const h = harness({});
    const result = await h.run(
      flow([task('a')], { parametersCell: cell('p', 'n = 3\nm = (4, 5)') }),
      { parameters: { n: 3, m: [4, 5], k: 'x' }, injectionVisible: true }
    );
    const [, injection] = h.kernel.calls;
    expect(injection.code).toBe(parameterInjectionCode({ k: 'x' }));
    expect(injection.options).toMatchObject({
      silent: false,
      storeHistory: true
    });
    expect(result.injection).toEqual({
      values: { k: 'x' },
      execution: {
        executionCount: 2,
        startedAt: h.clock.time,
        endedAt: h.clock.time
      }
    });
    // Nothing to inject: no injection at all.
    const quiet = harness({});
    const none = await quiet.run(
      flow([task('a')], { parametersCell: cell('p', 'n = 3') }),
      { parameters: { n: 3 }, injectionVisible: true }
    );
    expect(quiet.kernel.calls.map(c => c.code)).toEqual(['n = 3', 'a()']);
    expect(none.injection).toBeNull();
  });

  it('records the count and times of every cell it executed: parameters, setup, tasks, teardown', async () => {
    const h = harness({});
    const result = await h.run(
      flow([task('a', { setup: [cell('s', 'import os')] })], {
        parametersCell: cell('p', 'n = 3'),
        teardown: [cell('t', 'print("bye")')]
      })
    );
    expect(
      Object.fromEntries(
        Object.entries(result.cells).map(([id, e]) => [id, e.executionCount])
      )
    ).toEqual({ p: 1, s: 2, 'cell-a': 3, t: 4 });
  });

  it("goes on past an error in a cell tagged raises-exception, keeping the error in its outputs (nbclient's rule)", async () => {
    const traceback = {
      output_type: 'error' as const,
      ename: 'ValueError',
      evalue: 'no data',
      traceback: ['ValueError: no data']
    };
    const h = harness({
      'boom()': { outputs: [traceback], result: valueError },
      'setup_boom()': valueError,
      'a()': { outputs: [traceback], result: valueError }
    });
    const result = await h.run(
      flow(
        [
          task('a', {
            raisesException: true,
            setup: [{ ...cell('s', 'setup_boom()'), raisesException: true }]
          }),
          task('b', { upstream: ['a'] })
        ],
        { teardown: [{ ...cell('t', 'boom()'), raisesException: true }] }
      )
    );
    expect(result.state).toBe('Completed');
    expect(result.tasks.map(t => t.state)).toEqual(['Completed', 'Completed']);
    expect(result.tasks[0].attempts[0].outputs).toEqual([traceback]);
    expect(result.teardownOutputs).toEqual([traceback]);
    // Without the tag the same error fails the task.
    const plain = harness({ 'a()': valueError });
    expect((await plain.run(flow([task('a')]))).state).toBe('Failed');
  });

  it('runs on past a raises-exception cell inside a whole-notebook task, and stops at an untagged error', async () => {
    const h = harness({ 'one()': valueError, 'three()': valueError });
    const cells = [
      { ...cell('c1', 'one()'), raisesException: true as const },
      cell('c2', 'two()'),
      cell('c3', 'three()'),
      cell('c4', 'four()')
    ];
    const result = await h.run(
      flow([task('notebook', { cellId: 'c1', code: 'one()', cells })])
    );
    expect(h.kernel.calls.map(c => c.code)).toEqual([
      'one()',
      'two()',
      'three()'
    ]);
    expect(result.state).toBe('Failed');
    expect(result.error).toMatchObject({ cellId: 'c3' });
  });

  it('fails the run when the teardown fails', async () => {
    const h = harness({ 'bye()': valueError });
    const result = await h.run(
      flow([task('a')], { teardown: [cell('t', 'bye()')] })
    );
    expect(result.tasks[0].state).toBe('Completed');
    expect(result.state).toBe('Failed');
    expect(result.error).toMatchObject({ source: 'teardown', cellId: 't' });
  });

  it('fails the run and runs no task when the parameters cell fails', async () => {
    const h = harness({ 'n = ': valueError });
    const result = await h.run(
      flow([task('a')], { parametersCell: cell('p', 'n = ') })
    );
    expect(result.state).toBe('Failed');
    expect(result.error).toMatchObject({
      summary: 'ValueError: no data',
      cellId: 'p'
    });
    expect(h.taskStates('a')).toEqual(['Pending', 'NotRun']);
    expect(h.kernel.calls.map(c => c.code)).toEqual(['n = ']);
  });

  it('fails a task on a failing setup cell without retrying it or running the task code', async () => {
    const h = harness({ 'import nope': valueError });
    const result = await h.run(
      flow([
        task('a', { retries: 3, setup: [cell('s', 'import nope')] }),
        task('b', { upstream: ['a'] })
      ])
    );
    expect(h.kernel.calls.map(c => c.code)).toEqual(['import nope']);
    expect(result.tasks[0]).toMatchObject({
      state: 'Failed',
      error: { cellId: 's', source: 'setup' }
    });
    expect(h.taskStates('a')).toEqual(['Pending', 'Running', 'Failed']);
    expect(result.tasks[1]).toMatchObject({
      state: 'NotRun',
      reason: "upstream task 'a' is Failed"
    });
    expect(result.state).toBe('Failed');
  });

  it('skips only the dependants of a failed task and keeps running independent ones', async () => {
    const h = harness({ 'a()': valueError });
    const result = await h.run(
      flow(
        [
          task('a'),
          task('b'),
          task('c', { upstream: ['a'] }),
          task('d', { upstream: ['c'] })
        ],
        { teardown: [cell('t', 'cleanup()')] }
      )
    );
    expect(result.tasks.map(t => t.state)).toEqual([
      'Failed',
      'Completed',
      'NotRun',
      'NotRun'
    ]);
    expect(result.tasks[3].reason).toBe("upstream task 'c' is NotRun");
    expect(h.kernel.calls.map(c => c.code)).toEqual(['a()', 'b()']);
    expect(result.state).toBe('Failed');
    expect(h.runStates()).toEqual(['Running', 'Failed']);
  });
});

describe("runFlow resume (a retry in the failed run's kernel)", () => {
  const spec = () =>
    flow(
      [
        task('a', { setup: [cell('sa', 'setup_a()')] }),
        task('b', { upstream: ['a'], setup: [cell('sb', 'setup_b()')] }),
        task('c', { upstream: ['b'], setup: [cell('sc', 'setup_c()')] })
      ],
      {
        parametersCell: cell('p', 'n = 3'),
        teardown: [cell('t', 'bye()')]
      }
    );

  it('reports kept tasks Completed without running them, the parameters or their setup', async () => {
    const h = harness({});
    const result = await h.run(spec(), {
      parametersCode: 'n = 5',
      resume: {
        completed: new Map([['a', 'kept from run r1 (same kernel)']]),
        setupCellsDone: new Set(['sa', 'sb'])
      }
    });

    // b's setup ran in the failed run's kernel (b failed in its body): only its body runs again.
    expect(h.kernel.calls.map(c => c.code)).toEqual([
      'b()',
      'setup_c()',
      'c()',
      'bye()'
    ]);
    expect(result.state).toBe('Completed');
    expect(h.taskStates('a')).toEqual(['Pending', 'Completed']);
    const kept = h.events.find(
      (e): e is TaskStateEvent =>
        e.type === 'task-state' && e.task === 'a' && e.state === 'Completed'
    );
    expect(kept).toMatchObject({
      previous: 'Pending',
      attempt: 0,
      kept: true,
      reason: 'kept from run r1 (same kernel)'
    });
    expect(result.tasks[0]).toMatchObject({
      state: 'Completed',
      kept: true,
      attempts: [],
      reason: 'kept from run r1 (same kernel)'
    });
    expect(result.tasks[1].attempts.map(a => a.attempt)).toEqual([1]);
    expect(h.taskStates('b')).toEqual(['Pending', 'Running', 'Completed']);
  });

  it('runs the setup of a task whose setup had not run, and reports kept tasks before anything executes', async () => {
    const h = harness({
      'b()': {
        onCall: () => {
          // Every kept task is already Completed once the first cell executes.
          expect(h.taskStates('a')).toEqual(['Pending', 'Completed']);
        }
      }
    });
    await h.run(spec(), {
      resume: { completed: new Map([['a', 'kept']]) }
    });
    expect(h.kernel.calls.map(c => c.code)).toEqual([
      'setup_b()',
      'b()',
      'setup_c()',
      'c()',
      'bye()'
    ]);
  });

  it('keeps the kept tasks Completed when the resumed run fails or is cancelled', async () => {
    const failing = harness({ 'b()': valueError });
    const failed = await failing.run(spec(), {
      resume: { completed: new Map([['a', 'kept']]) }
    });
    expect(failed.tasks.map(t => t.state)).toEqual([
      'Completed',
      'Failed',
      'NotRun'
    ]);
    expect(failed.state).toBe('Failed');

    const controller = new AbortController();
    controller.abort();
    const cancelling = harness({});
    const cancelled = await cancelling.run(spec(), {
      signal: controller.signal,
      resume: { completed: new Map([['a', 'kept']]) }
    });
    expect(cancelled.tasks.map(t => t.state)).toEqual([
      'Completed',
      'NotRun',
      'NotRun'
    ]);
    expect(cancelling.taskStates('a')).toEqual(['Pending', 'Completed']);
    expect(cancelling.kernel.calls).toEqual([]);
    expect(cancelled.state).toBe('Cancelled');
  });

  it("runs a task's setup from the setup cell it failed on", async () => {
    const h = harness({});
    const spec = flow([
      task('a'),
      task('b', {
        upstream: ['a'],
        setup: [cell('s1', 'one()'), cell('s2', 'two()'), cell('s3', 'three()')]
      })
    ]);
    const result = await h.run(spec, {
      resume: {
        completed: new Map([['a', 'kept']]),
        setupCellsDone: new Set(['s1'])
      }
    });
    expect(h.kernel.calls.map(c => c.code)).toEqual([
      'two()',
      'three()',
      'b()'
    ]);
    expect(result.state).toBe('Completed');
  });

  it('rejects a resume naming a task the flow does not have', async () => {
    const h = harness({});
    await expect(
      h.run(spec(), { resume: { completed: new Map([['zz', 'kept']]) } })
    ).rejects.toThrow("Cannot resume flow 'test': it has no task 'zz'");
    await expect(
      h.run(spec(), {
        resume: { completed: new Map(), setupCellsDone: new Set(['b']) }
      })
    ).rejects.toThrow("Cannot resume flow 'test': it has no setup cell 'b'");
    expect(h.kernel.calls).toEqual([]);
  });
});

describe('runFlow retries', () => {
  it('retries a failing task with exponential backoff and reports attempt numbers', async () => {
    const h = harness({
      'a()': [valueError, valueError, { result: { status: 'ok' } }]
    });
    const result = await h.run(
      flow([task('a', { retries: 3, retryDelay: 10, backoff: 2 })])
    );

    expect(result.state).toBe('Completed');
    expect(h.clock.sleeps).toEqual([10_000, 20_000]);
    expect(h.taskStates('a')).toEqual([
      'Pending',
      'Running',
      'AwaitingRetry',
      'Retrying',
      'AwaitingRetry',
      'Retrying',
      'Completed'
    ]);
    const retrying = h.events.filter(
      (e): e is TaskStateEvent =>
        e.type === 'task-state' && e.state === 'Retrying'
    );
    expect(
      retrying.map(e => [e.attempt, e.maxAttempts, e.retry, e.maxRetries])
    ).toEqual([
      [2, 4, 1, 3],
      [3, 4, 2, 3]
    ]);
    const awaiting = h.events.find(
      (e): e is TaskStateEvent =>
        e.type === 'task-state' && e.state === 'AwaitingRetry'
    )!;
    expect(awaiting.error?.summary).toBe('ValueError: no data');
    expect(awaiting.retryAt).toBe(awaiting.at + 10_000);

    const attempts = result.tasks[0].attempts;
    expect(attempts.map(a => [a.attempt, a.state])).toEqual([
      [1, 'Failed'],
      [2, 'Failed'],
      [3, 'Completed']
    ]);
    // The attempts start after their delays on the (virtual) clock.
    expect(attempts[1].startedAt - attempts[0].endedAt).toBe(10_000);
    expect(attempts[2].startedAt - attempts[1].endedAt).toBe(20_000);
  });

  it('applies the jitter option to retry delays', async () => {
    const h = harness({ 'a()': [valueError, { status: 'ok' }] });
    await h.run(flow([task('a', { retries: 1, retryDelay: 10 })]), {
      jitter: 0.5,
      random: () => 0
    });
    expect(h.clock.sleeps).toEqual([5_000]);
  });

  it('fails the task with the traceback once retries are exhausted', async () => {
    const h = harness({ 'a()': valueError });
    const result = await h.run(flow([task('a', { retries: 2 })]));
    expect(h.kernel.calls).toHaveLength(3);
    expect(result.tasks[0].state).toBe('Failed');
    expect(result.tasks[0].error).toEqual({
      ename: 'ValueError',
      evalue: 'no data',
      traceback: valueError.traceback,
      summary: 'ValueError: no data',
      cellId: 'cell-a',
      source: 'task'
    });
    const failed = h.events.filter(
      (e): e is TaskStateEvent =>
        e.type === 'task-state' && e.state === 'Failed'
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      attempt: 3,
      maxAttempts: 3,
      previous: 'Retrying'
    });
    expect(result.state).toBe('Failed');
    expect(result.error?.summary).toBe('ValueError: no data');
  });
});

describe('runFlow timeouts', () => {
  it('interrupts a timed-out attempt, counts it as failed and retries it', async () => {
    const h = harness({
      'a()': [{ hang: 'interruptible' }, { result: { status: 'ok' } }]
    });
    const result = await h.run(flow([task('a', { retries: 1, timeout: 5 })]));

    expect(h.kernel.interrupts).toBe(1);
    const [first, second] = result.tasks[0].attempts;
    expect(first.state).toBe('Failed');
    expect(first.error).toMatchObject({
      ename: 'TimeoutError',
      evalue: 'timed out after 5 s',
      timedOut: true,
      traceback: ['KeyboardInterrupt']
    });
    expect(first.endedAt - first.startedAt).toBe(5_000);
    expect(second.state).toBe('Completed');
    expect(result.state).toBe('Completed');
    expect(result.kernelUnresponsive).toBe(false);
  });

  it('fails with "timed out" when no retry remains, and the next task still runs', async () => {
    const h = harness({ 'a()': { hang: 'interruptible' } });
    const result = await h.run(flow([task('a', { timeout: 1 }), task('b')]));
    expect(result.tasks[0]).toMatchObject({
      state: 'Failed',
      error: { summary: 'TimeoutError: timed out after 1 s' }
    });
    expect(result.tasks[1].state).toBe('Completed');
    expect(result.state).toBe('Failed');
  });

  it('gives up on a kernel that ignores the interrupt: task Failed, run Crashed, hook called', async () => {
    const h = harness({ 'a()': { hang: 'stuck' } });
    const hook: unknown[] = [];
    const result = await h.run(
      flow([task('a', { retries: 5, timeout: 2 }), task('b')]),
      {
        interruptGraceMs: 3_000,
        onUnresponsiveKernel: info => {
          hook.push(info);
        }
      }
    );
    expect(hook).toEqual([{ reason: 'timeout', task: 'a', graceMs: 3_000 }]);
    expect(h.kernel.calls.map(c => c.code)).toEqual(['a()']);
    expect(result.tasks[0].attempts).toHaveLength(1);
    expect(
      result.tasks[0].attempts[0].endedAt -
        result.tasks[0].attempts[0].startedAt
    ).toBe(5_000);
    expect(result.tasks[0]).toMatchObject({
      state: 'Failed',
      error: { timedOut: true }
    });
    expect(result.tasks[1]).toMatchObject({
      state: 'NotRun',
      reason: 'the run crashed'
    });
    expect(result.state).toBe('Crashed');
    expect(result.kernelUnresponsive).toBe(true);
  });
});

describe('runFlow cancel and crash', () => {
  it('cancels the running task, interrupts the kernel and runs nothing more', async () => {
    const controller = new AbortController();
    const h = harness({
      'b()': { hang: 'interruptible', onCall: () => controller.abort() }
    });
    const result = await h.run(
      flow([task('a'), task('b', { retries: 3 }), task('c')], {
        teardown: [cell('t', 'bye()')]
      }),
      { signal: controller.signal }
    );
    expect(h.kernel.interrupts).toBe(1);
    expect(result.tasks.map(t => t.state)).toEqual([
      'Completed',
      'Cancelled',
      'NotRun'
    ]);
    expect(result.tasks[1].attempts).toHaveLength(1);
    expect(result.tasks[2].reason).toBe('the run was cancelled');
    expect(h.kernel.calls.map(c => c.code)).toEqual(['a()', 'b()']);
    expect(result.state).toBe('Cancelled');
    expect(h.runStates()).toEqual(['Running', 'Cancelled']);
  });

  it('stops waiting at once when cancelled during a retry delay', async () => {
    const controller = new AbortController();
    const h = harness({ 'a()': valueError });
    h.clock.onSleep = ms => {
      if (ms === 60_000) {
        controller.abort();
      }
    };
    const start = h.clock.time;
    const result = await h.run(
      flow([task('a', { retries: 2, retryDelay: 60 })]),
      {
        signal: controller.signal
      }
    );
    expect(h.clock.time).toBe(start);
    expect(h.kernel.calls).toHaveLength(1);
    expect(h.taskStates('a')).toEqual([
      'Pending',
      'Running',
      'AwaitingRetry',
      'Cancelled'
    ]);
    expect(result.state).toBe('Cancelled');
  });

  it('runs nothing when the signal is already aborted', async () => {
    const h = harness({});
    const result = await h.run(flow([task('a')]), {
      signal: AbortSignal.abort()
    });
    expect(h.kernel.calls).toHaveLength(0);
    expect(result.tasks[0].state).toBe('NotRun');
    expect(result.state).toBe('Cancelled');
  });

  it('marks the task and the run Crashed when the kernel dies', async () => {
    const h = harness({ 'b()': { die: true } });
    const result = await h.run(
      flow([task('a'), task('b', { retries: 3 }), task('c')])
    );
    expect(result.tasks.map(t => t.state)).toEqual([
      'Completed',
      'Crashed',
      'NotRun'
    ]);
    expect(result.tasks[1].error).toMatchObject({
      ename: 'KernelDiedError',
      summary: 'KernelDiedError: The kernel died (exit code 1)'
    });
    expect(h.kernel.calls.map(c => c.code)).toEqual(['a()', 'b()']);
    expect(result.state).toBe('Crashed');
    expect(h.runStates()).toEqual(['Running', 'Crashed']);
  });

  it('gives up on a kernel that ignores the interrupt of a cancel', async () => {
    const controller = new AbortController();
    const h = harness({
      'a()': { hang: 'stuck', onCall: () => controller.abort() }
    });
    const hook: unknown[] = [];
    const result = await h.run(flow([task('a'), task('b')]), {
      signal: controller.signal,
      onUnresponsiveKernel: info => {
        hook.push(info);
      }
    });
    expect(hook).toEqual([{ reason: 'cancel', task: 'a', graceMs: 5_000 }]);
    expect(result.tasks.map(t => t.state)).toEqual(['Cancelled', 'NotRun']);
    expect(result.state).toBe('Cancelled');
    expect(result.kernelUnresponsive).toBe(true);
  });

  it('marks the task Crashed when the kernel dies in a setup cell', async () => {
    const h = harness({ 'import x': { die: true } });
    const result = await h.run(
      flow([task('a', { setup: [cell('s', 'import x')] }), task('b')])
    );
    expect(result.tasks.map(t => t.state)).toEqual(['Crashed', 'NotRun']);
    expect(result.tasks[0].error).toMatchObject({
      source: 'setup',
      cellId: 's'
    });
    expect(result.state).toBe('Crashed');
  });

  it('keeps running when an event listener throws', async () => {
    const h = harness({});
    const errors: unknown[] = [];
    const result = await h.run(flow([task('a')]), {
      onEvent: () => {
        throw new Error('listener broke');
      },
      onListenerError: e => errors.push(e)
    });
    expect(result.state).toBe('Completed');
    expect(errors.length).toBeGreaterThan(0);
  });
});

describe('retryDelayMs and errorSummary', () => {
  it('multiplies the delay by backoff for each further retry', () => {
    const s = { retryDelay: 1.5, backoff: 3 };
    expect([1, 2, 3].map(n => retryDelayMs(s, n))).toEqual([
      1_500, 4_500, 13_500
    ]);
    expect(retryDelayMs({ retryDelay: 2, backoff: 1 }, 5)).toBe(2_000);
  });

  it('applies jitter within ±fraction using the given randomness', () => {
    const s = { retryDelay: 10, backoff: 1 };
    expect(retryDelayMs(s, 1, { jitter: 0.2, random: () => 0 })).toBe(8_000);
    expect(retryDelayMs(s, 1, { jitter: 0.2, random: () => 0.5 })).toBe(10_000);
    expect(retryDelayMs(s, 1, { jitter: 0.2, random: () => 0.9999999 })).toBe(
      12_000
    );
  });

  it('rejects a retry number below 1', () => {
    expect(() => retryDelayMs({ retryDelay: 1, backoff: 1 }, 0)).toThrow(
      /retry number/
    );
  });

  it('summarises an error on one line', () => {
    expect(errorSummary('ValueError', 'no data')).toBe('ValueError: no data');
    expect(errorSummary('KeyboardInterrupt', '')).toBe('KeyboardInterrupt');
    expect(errorSummary('E', '\nfirst\nsecond')).toBe('E: first');
  });
});
