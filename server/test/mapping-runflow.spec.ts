/**
 * Mapped tasks (`%%task fetch --map url=urls`, src/flow/mapping.ts) through the run loop over a real
 * ipykernel: each element a task run of its own with its own retries, the results collected in order
 * for downstream tasks, and a failed element keeping downstream tasks from running.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FLOW_SPEC_VERSION, FlowSpec, TaskSpec } from '../../src/flow/spec.js';
import {
  RunEvent,
  RunResult,
  TaskStateEvent,
  runFlow
} from '../../src/flow/runner.js';
import { startKernel, ZmqKernel } from '../src/executor/index.js';

const python = new URL('../../.venv/bin/python', import.meta.url).pathname;
const kernels: ZmqKernel[] = [];

afterEach(async () => {
  await Promise.all(kernels.splice(0).map(k => k.kill()));
});

async function start(): Promise<ZmqKernel> {
  const kernel = await startKernel({ python });
  kernels.push(kernel);
  return kernel;
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

function flow(tasks: TaskSpec[]): FlowSpec {
  return {
    version: FLOW_SPEC_VERSION,
    name: 'mapping',
    parameters: [],
    parametersCell: null,
    tasks,
    teardown: [],
    hash: 'test'
  };
}

function states(events: RunEvent[], name: string): string[] {
  return events
    .filter(
      (e): e is TaskStateEvent => e.type === 'task-state' && e.task === name
    )
    .map(e => e.state);
}

function text(result: RunResult, name: string): string {
  const record = result.tasks.find(t => t.name === name)!;
  const outputs = record.attempts[record.attempts.length - 1]?.outputs ?? [];
  return outputs
    .map(o =>
      o.output_type === 'stream'
        ? String(o.text)
        : String((o.data as Record<string, unknown>)?.['text/plain'] ?? '')
    )
    .join('');
}

const FETCH = [
  '# element 2 fails on its first attempt only',
  'tries[url] = tries.get(url, 0) + 1',
  'if url == 30 and tries[url] == 1:',
  '    raise ConnectionError(f"flaky {url}")',
  'print("fetched", url)',
  'url * 2'
].join('\n');

describe('a mapped task over a real ipykernel', () => {
  it('runs 5 elements as tasks of their own, retries the one that fails once, and collects the results in order for downstream', async () => {
    const kernel = await start();
    const events: RunEvent[] = [];
    const result = await runFlow(
      flow([
        task('make', 'urls = [10, 20, 30, 40, 50]\ntries = {}'),
        task('fetch', FETCH, {
          upstream: ['make'],
          retries: 1,
          map: { name: 'url', over: 'urls' }
        }),
        task('total', 'print(fetch_results)\nsum(fetch_results)', {
          upstream: ['fetch']
        })
      ]),
      kernel,
      { onEvent: e => events.push(e) }
    );
    expect(result.state).toBe('Completed');
    for (const i of [0, 1, 3, 4]) {
      expect(states(events, `fetch[${i}]`)).toEqual([
        'Pending',
        'Running',
        'Completed'
      ]);
    }
    expect(states(events, 'fetch[2]')).toEqual([
      'Pending',
      'Running',
      'AwaitingRetry',
      'Retrying',
      'Completed'
    ]);
    expect(states(events, 'fetch')).toEqual([
      'Pending',
      'Running',
      'Completed'
    ]);
    // Each element keeps its own attempts and outputs.
    const element2 = result.tasks.find(t => t.name === 'fetch[2]')!;
    expect(element2.attempts.map(a => a.state)).toEqual([
      'Failed',
      'Completed'
    ]);
    expect(element2.attempts[0].error?.summary).toBe(
      'ConnectionError: flaky 30'
    );
    expect(text(result, 'fetch[2]')).toContain('fetched 30');
    expect(text(result, 'fetch[4]')).toContain('fetched 50');
    expect(text(result, 'fetch[4]')).not.toContain('fetched 40');
    // The run's records list the elements right after their task, in order.
    expect(result.tasks.map(t => t.name)).toEqual([
      'make',
      'fetch',
      'fetch[0]',
      'fetch[1]',
      'fetch[2]',
      'fetch[3]',
      'fetch[4]',
      'total'
    ]);
    // Downstream reads fetch_results: the last expression of each element, in order.
    expect(text(result, 'total')).toContain('[20, 40, 60, 80, 100]');
    expect(text(result, 'total')).toContain('300');
    // Cellflow's bookkeeping is gone from the kernel once the results are bound.
    const left = await kernel.execute(
      'assert "fetch" not in __cellflow_map__, __cellflow_map__'
    );
    expect(left.status).toBe('ok');
  });

  it('fails the task once every element ran when one fails, and runs no downstream task', async () => {
    const kernel = await start();
    const events: RunEvent[] = [];
    const result = await runFlow(
      flow([
        task('make', 'urls = ["a", "b", "bad", "d"]'),
        task(
          'fetch',
          'if url == "bad":\n    raise ValueError(f"cannot fetch {url}")\nurl.upper()',
          { upstream: ['make'], map: { name: 'url', over: 'urls' } }
        ),
        task('load', 'print("loaded", fetch_results)', {
          upstream: ['fetch']
        })
      ]),
      kernel,
      { onEvent: e => events.push(e) }
    );
    expect(result.state).toBe('Failed');
    expect(states(events, 'fetch[2]')).toEqual([
      'Pending',
      'Running',
      'Failed'
    ]);
    // The element after the failed one still ran.
    expect(states(events, 'fetch[3]')).toEqual([
      'Pending',
      'Running',
      'Completed'
    ]);
    const fetch = result.tasks.find(t => t.name === 'fetch')!;
    expect(fetch.state).toBe('Failed');
    expect(fetch.error?.summary).toBe(
      'MapError: 1 of 4 elements failed (fetch[2]: ValueError: cannot fetch bad)'
    );
    expect(states(events, 'load')).toEqual(['Pending', 'NotRun']);
    expect(result.tasks.find(t => t.name === 'load')?.reason).toBe(
      "upstream task 'fetch' is Failed"
    );
    // The results are still there for a look in the kernel: None where an element failed.
    const check = await kernel.execute(
      'assert fetch_results == ["A", "B", None, "D"], fetch_results'
    );
    expect(check.status).toBe('ok');
  });

  it('fails the task naming the option when the iterable is missing, not iterable or too long', async () => {
    const kernel = await start();
    const cases: [string, string][] = [
      [
        'pass',
        'NameError: --map url=urls: no variable urls; give it as a parameter or set it in an upstream task'
      ],
      ['urls = 5', 'TypeError: --map url=urls: urls is not iterable (int)'],
      [
        'urls = range(1001)',
        'ValueError: --map url=urls: urls has 1001 elements; a mapped task takes at most 1000'
      ]
    ];
    for (const [setup, summary] of cases) {
      const events: RunEvent[] = [];
      const result = await runFlow(
        flow([
          task(
            'make',
            `${setup}\nif "urls" in globals() and "${setup}" == "pass": del urls`
          ),
          task('fetch', 'url', {
            upstream: ['make'],
            map: { name: 'url', over: 'urls' }
          })
        ]),
        kernel,
        { onEvent: e => events.push(e) }
      );
      expect(result.state).toBe('Failed');
      expect(result.tasks.find(t => t.name === 'fetch')?.error?.summary).toBe(
        summary
      );
      expect(result.tasks.map(t => t.name)).toEqual(['make', 'fetch']);
    }
  });

  it('gives each element its own timeout, and a cancel stops at once: the elements not started are NotRun', async () => {
    const kernel = await start();
    const events: RunEvent[] = [];
    const result = await runFlow(
      flow([
        task('make', 'waits = [0, 30, 0]'),
        task('nap', 'import time\ntime.sleep(wait)\nwait', {
          upstream: ['make'],
          timeout: 1,
          map: { name: 'wait', over: 'waits' }
        })
      ]),
      kernel,
      { onEvent: e => events.push(e) }
    );
    // The element that sleeps 30 s times out after 1 s; the next one still runs.
    expect(result.state).toBe('Failed');
    expect(result.tasks.find(t => t.name === 'nap[1]')?.error?.summary).toBe(
      'TimeoutError: timed out after 1 s'
    );
    expect(states(events, 'nap[2]')).toEqual([
      'Pending',
      'Running',
      'Completed'
    ]);

    const cancel = new AbortController();
    const cancelled: RunEvent[] = [];
    const stopped = await runFlow(
      flow([
        task('make', 'waits = [0, 30, 0, 0]'),
        task('nap', 'import time\ntime.sleep(wait)', {
          upstream: ['make'],
          map: { name: 'wait', over: 'waits' }
        }),
        task('after', 'print("never")', { upstream: ['nap'] })
      ]),
      kernel,
      {
        signal: cancel.signal,
        onEvent: e => {
          cancelled.push(e);
          if (
            e.type === 'task-state' &&
            e.task === 'nap[1]' &&
            e.state === 'Running'
          ) {
            cancel.abort();
          }
        }
      }
    );
    expect(stopped.state).toBe('Cancelled');
    expect(states(cancelled, 'nap[0]')).toEqual([
      'Pending',
      'Running',
      'Completed'
    ]);
    expect(states(cancelled, 'nap[1]')).toEqual([
      'Pending',
      'Running',
      'Cancelled'
    ]);
    for (const name of ['nap[2]', 'nap[3]']) {
      expect(states(cancelled, name)).toEqual(['Pending', 'NotRun']);
    }
    expect(states(cancelled, 'nap')).toEqual([
      'Pending',
      'Running',
      'Cancelled'
    ]);
    expect(states(cancelled, 'after')).toEqual(['Pending', 'NotRun']);
  });

  it('maps over an empty iterable: the task completes with empty results', async () => {
    const kernel = await start();
    const result = await runFlow(
      flow([
        task('make', 'urls = []'),
        task('fetch', 'url', {
          upstream: ['make'],
          map: { name: 'url', over: 'urls' }
        }),
        task('count', 'len(fetch_results)', { upstream: ['fetch'] })
      ]),
      kernel
    );
    expect(result.state).toBe('Completed');
    expect(text(result, 'count')).toBe('0');
  });
});
