/**
 * The run loop (src/flow/runner.ts) over a real ipykernel through ZmqKernel: retries, failures with
 * tracebacks, timeouts, kernel death, cancel and an unresponsive kernel, for real.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FLOW_SPEC_VERSION, FlowSpec, TaskSpec } from '../../src/flow/spec.js';
import { RunEvent, TaskStateEvent, runFlow } from '../../src/flow/runner.js';
import { startKernel, ZmqKernel } from '../src/executor/index.js';

const python = new URL('../../.venv/bin/python', import.meta.url).pathname;
const kernels: ZmqKernel[] = [];

async function start(): Promise<ZmqKernel> {
  const kernel = await startKernel({ python });
  kernels.push(kernel);
  return kernel;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let cellIndex = 0;
function task(
  name: string,
  code: string,
  settings: Partial<TaskSpec> = {}
): TaskSpec {
  return {
    name,
    cellId: `cell-${name}`,
    cellIndex: cellIndex++,
    code,
    setup: [],
    upstream: [],
    retries: 0,
    retryDelay: 0,
    backoff: 1,
    timeout: null,
    ...settings
  };
}

function flow(tasks: TaskSpec[], extra: Partial<FlowSpec> = {}): FlowSpec {
  return {
    version: FLOW_SPEC_VERSION,
    name: 'integration',
    parameters: [],
    parametersCell: null,
    tasks,
    teardown: [],
    hash: 'test',
    ...extra
  };
}

function states(events: RunEvent[], name: string): string[] {
  return events
    .filter(
      (e): e is TaskStateEvent => e.type === 'task-state' && e.task === name
    )
    .map(e => e.state);
}

afterEach(async () => {
  await Promise.all(kernels.map(k => k.kill()));
});

afterAll(() => {
  expect(kernels.map(k => k.pid).filter(alive)).toEqual([]);
});

describe('runFlow over a real ipykernel', () => {
  it('retries, fails with a traceback, times out and keeps the kernel usable', async () => {
    const kernel = await start();
    const events: RunEvent[] = [];
    const spec = flow(
      [
        task(
          'flaky',
          'attempts += 1\nif attempts < 3:\n    raise RuntimeError(f"attempt {attempts} failed")\nprint("ok after", attempts)',
          {
            retries: 2,
            retryDelay: 0.05,
            setup: [{ cellId: 's', cellIndex: 0, code: 'attempts = 0' }]
          }
        ),
        task('broken', 'raise ValueError(f"no data for n={n}")', {
          retries: 1,
          retryDelay: 0
        }),
        task('slow', 'import time\ntime.sleep(30)', { timeout: 1 }),
        task('after', 'print("still here", n)')
      ],
      { parametersCell: { cellId: 'p', cellIndex: 0, code: 'n = 1' } }
    );
    const result = await runFlow(spec, kernel, {
      parameters: { n: 5 },
      onEvent: e => events.push(e)
    });

    const [flaky, broken, slow, after] = result.tasks;
    expect(flaky.state).toBe('Completed');
    expect(flaky.attempts.map(a => a.state)).toEqual([
      'Failed',
      'Failed',
      'Completed'
    ]);
    expect(flaky.attempts[0].error?.summary).toBe(
      'RuntimeError: attempt 1 failed'
    );
    expect(flaky.attempts[2].outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'ok after 3\n' }
    ]);
    expect(states(events, 'flaky')).toEqual([
      'Pending',
      'Running',
      'AwaitingRetry',
      'Retrying',
      'AwaitingRetry',
      'Retrying',
      'Completed'
    ]);

    expect(broken.state).toBe('Failed');
    expect(broken.attempts).toHaveLength(2);
    expect(broken.error?.summary).toBe('ValueError: no data for n=5');
    expect(broken.error?.traceback.join('\n')).toContain('ValueError');
    expect(broken.attempts[1].outputs[0]).toMatchObject({
      output_type: 'error',
      ename: 'ValueError'
    });

    expect(slow.state).toBe('Failed');
    expect(slow.error).toMatchObject({
      ename: 'TimeoutError',
      evalue: 'timed out after 1 s',
      timedOut: true
    });

    expect(after.state).toBe('Completed');
    expect(after.attempts[0].outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'still here 5\n' }
    ]);
    expect(result.state).toBe('Failed');
    expect(result.kernelUnresponsive).toBe(false);
  });

  it('ends Crashed when the kernel dies in a task', async () => {
    const kernel = await start();
    const result = await runFlow(
      flow([
        task('die', 'import os\nos._exit(1)', { retries: 3 }),
        task('next', 'print(1)')
      ]),
      kernel
    );
    expect(result.tasks.map(t => t.state)).toEqual(['Crashed', 'NotRun']);
    expect(result.tasks[0].error?.ename).toBe('KernelDiedError');
    expect(result.tasks[0].error?.evalue).toContain('exit code 1');
    expect(result.state).toBe('Crashed');
  });

  it('cancels the running task and leaves the kernel usable', async () => {
    const kernel = await start();
    const controller = new AbortController();
    const result = await runFlow(
      flow([
        task(
          'long',
          'import time\nprint("started", flush=True)\ntime.sleep(30)'
        ),
        task('next', 'print(1)')
      ]),
      kernel,
      {
        signal: controller.signal,
        // Abort once the task is demonstrably running in the kernel.
        onEvent: e => {
          if (e.type === 'output' && e.task === 'long') {
            controller.abort();
          }
        }
      }
    );
    expect(result.tasks.map(t => t.state)).toEqual(['Cancelled', 'NotRun']);
    expect(result.state).toBe('Cancelled');
    expect((await kernel.execute('1 + 1')).status).toBe('ok');
  });

  it('gives up on a kernel that ignores the interrupt and lets the owner kill it', async () => {
    const kernel = await start();
    const unresponsive: string[] = [];
    const result = await runFlow(
      flow([
        task(
          'stubborn',
          'import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)',
          { timeout: 1, retries: 2 }
        ),
        task('next', 'print(1)')
      ]),
      kernel,
      {
        interruptGraceMs: 500,
        onUnresponsiveKernel: async info => {
          unresponsive.push(`${info.reason}:${info.task}`);
          await kernel.kill();
        }
      }
    );
    expect(unresponsive).toEqual(['timeout:stubborn']);
    expect(result.tasks[0]).toMatchObject({
      state: 'Failed',
      error: { timedOut: true }
    });
    expect(result.tasks[0].attempts).toHaveLength(1);
    expect(result.tasks[1].state).toBe('NotRun');
    expect(result.state).toBe('Crashed');
    expect(result.kernelUnresponsive).toBe(true);
    expect(kernel.dead).toBe(true);
  });
});
