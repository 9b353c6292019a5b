/**
 * Task caching in the run loop over real ipykernels: a miss then a hit (a counter file proves the
 * task did not execute), the restored variables used downstream in a fresh kernel, expiry, a key
 * change (code, parameters, the --cache-key expression), refresh, and a value that cannot be
 * serialised. The store here is a Map behind the cache's store interface; the server's own store
 * (the task_cache table) is covered by store.spec.ts and runs-task-cache.spec.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FLOW_SPEC_VERSION, FlowSpec, TaskSpec } from '../../src/flow/spec.js';
import {
  RunEvent,
  RunResult,
  TaskStateEvent,
  runFlow
} from '../../src/flow/runner.js';
import type {
  TaskCacheEntry,
  TaskCacheStore
} from '../../src/flow/task-cache.js';
import { startKernel, ZmqKernel } from '../src/executor/index.js';

const python = new URL('../../.venv/bin/python', import.meta.url).pathname;
const kernels: ZmqKernel[] = [];
const dir = mkdtempSync(join(tmpdir(), 'cellflow-cache-'));

afterEach(async () => {
  await Promise.all(kernels.splice(0).map(k => k.kill()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The cache's store interface over a Map, with expiry as the real store honours it. */
class MapCache implements TaskCacheStore {
  readonly entries = new Map<string, TaskCacheEntry>();
  async get(key: string, now: number): Promise<TaskCacheEntry | null> {
    const entry = this.entries.get(key);
    return entry && entry.expiresAt > now ? entry : null;
  }
  async put(entry: TaskCacheEntry): Promise<void> {
    this.entries.set(entry.key, entry);
  }
}

function task(
  name: string,
  code: string,
  settings: Partial<TaskSpec> = {}
): TaskSpec {
  return {
    name,
    cellId: `cell-${name}`,
    cellIndex: 0,
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
    name: 'cached',
    parameters: [],
    parametersCell: null,
    tasks,
    teardown: [],
    hash: 'test',
    ...extra
  };
}

/** Python that counts its executions in `file` (the proof a task ran or did not). */
function counting(file: string): string {
  return (
    `import pathlib\n_p = pathlib.Path(${JSON.stringify(file)})\n` +
    `_p.write_text(str(int(_p.read_text() or 0) + 1) if _p.exists() else '1')\n`
  );
}

function count(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8'));
  } catch {
    return 0;
  }
}

interface Ran {
  result: RunResult;
  events: RunEvent[];
}

async function run(
  spec: FlowSpec,
  cache: MapCache,
  runId: string,
  extra: {
    now?: () => number;
    refresh?: boolean;
    parameters?: Record<string, unknown>;
  } = {}
): Promise<Ran> {
  // A fresh kernel per run: a hit must restore the variables, not find them left over.
  const kernel = await startKernel({ python });
  kernels.push(kernel);
  const events: RunEvent[] = [];
  const result = await runFlow(spec, kernel, {
    onEvent: e => events.push(e),
    now: extra.now,
    parameters: extra.parameters,
    cache: { store: cache, runId, refresh: extra.refresh }
  });
  return { result, events };
}

function completed(ran: Ran, name: string): TaskStateEvent {
  const event = ran.events.find(
    (e): e is TaskStateEvent =>
      e.type === 'task-state' && e.task === name && e.state === 'Completed'
  );
  if (!event) {
    throw new Error(
      `${name} did not complete: ${JSON.stringify(ran.result.tasks)}`
    );
  }
  return event;
}

function streamText(ran: Ran, name: string): string {
  const record = ran.result.tasks.find(t => t.name === name)!;
  return record.attempts
    .flatMap(a => a.outputs)
    .filter(o => o.output_type === 'stream')
    .map(o => String(o.text))
    .join('');
}

describe('task caching over real ipykernels', () => {
  it('misses, then hits without executing; the restored variables feed a downstream task', async () => {
    const counter = join(dir, 'hit.count');
    const spec = flow([
      task(
        'extract',
        counting(counter) +
          "import json\nrows = [{'id': 1}, {'id': 2}, {'id': 3}]\nsource = 'api'\n" +
          'def double(x):\n    return 2 * x\n' +
          "print('extracted', len(rows))",
        { cacheFor: 3600 }
      ),
      task(
        'load',
        "print('loaded', sum(r['id'] for r in rows), source, json.dumps(1), double(21))",
        {
          upstream: ['extract']
        }
      )
    ]);
    const cache = new MapCache();

    const first = await run(spec, cache, 'run-one-0001');
    expect(first.result.state).toBe('Completed');
    expect(count(counter)).toBe(1);
    expect(completed(first, 'extract').cachedFrom).toBeUndefined();
    expect(cache.entries.size).toBe(1);
    const entry = [...cache.entries.values()][0];
    expect(Object.keys(entry.variables.values).sort()).toEqual([
      'double',
      'rows',
      'source'
    ]);
    // The kernel has cloudpickle: a function defined in the task is cached by value.
    expect(entry.variables.serializer).toBe('cloudpickle');
    // Modules the task imported come back by import, not by value.
    expect(entry.variables.modules).toEqual({
      json: 'json',
      pathlib: 'pathlib'
    });

    const second = await run(spec, cache, 'run-two-0002');
    expect(second.result.state).toBe('Completed');
    expect(count(counter)).toBe(1); // not executed
    const hit = completed(second, 'extract');
    expect(hit.cachedFrom).toBe('run-one-0001');
    expect(hit.reason).toBe('Cached (from run run-one-)');
    // The cached attempt's outputs are shown again, and the downstream task used the restored values.
    expect(streamText(second, 'extract')).toBe('extracted 3\n');
    expect(
      second.events.some(
        e =>
          e.type === 'output' &&
          e.task === 'extract' &&
          String(e.output.text).includes('extracted 3')
      )
    ).toBe(true);
    expect(streamText(second, 'load')).toBe('loaded 6 api 1 42\n');
    const record = second.result.tasks.find(t => t.name === 'extract')!;
    expect(record.cachedFrom).toBe('run-one-0001');
  }, 60_000);

  it('honours expiry and --refresh-cache', async () => {
    const counter = join(dir, 'expiry.count');
    const spec = flow([
      task('extract', counting(counter) + 'value = 42', { cacheFor: 60 })
    ]);
    const cache = new MapCache();
    let now = Date.parse('2026-12-07T10:00:00Z');
    const clock = () => now;

    await run(spec, cache, 'run-a', { now: clock });
    expect(count(counter)).toBe(1);
    now += 59_000;
    const within = await run(spec, cache, 'run-b', { now: clock });
    expect(completed(within, 'extract').cachedFrom).toBe('run-a');
    expect(count(counter)).toBe(1);

    now += 2_000; // 61 s after it was stored: expired
    const expired = await run(spec, cache, 'run-c', { now: clock });
    expect(completed(expired, 'extract').cachedFrom).toBeUndefined();
    expect(count(counter)).toBe(2);

    // Refresh skips the (fresh) entry of run-c, runs, and stores its own.
    const refreshed = await run(spec, cache, 'run-d', {
      now: clock,
      refresh: true
    });
    expect(completed(refreshed, 'extract').cachedFrom).toBeUndefined();
    expect(count(counter)).toBe(3);
    const after = await run(spec, cache, 'run-e', { now: clock });
    expect(completed(after, 'extract').cachedFrom).toBe('run-d');
    expect(count(counter)).toBe(3);
  }, 90_000);

  it('misses when the code, a parameter, an upstream task or the --cache-key value changes', async () => {
    const counter = join(dir, 'key.count');
    const keyFile = join(dir, 'key.txt');
    writeFileSync(keyFile, 'v1');
    const make = (code: string, upstreamCode = 'base = 1') =>
      flow(
        [
          task('prepare', upstreamCode),
          task('extract', counting(counter) + code, {
            cacheFor: 3600,
            cacheKey: `open(${JSON.stringify(keyFile)}).read()`,
            upstream: ['prepare']
          })
        ],
        {
          parameters: [
            { name: 'limit', type: 'integer', default: 10, required: false }
          ],
          parametersCell: { cellId: 'params', cellIndex: 0, code: 'limit = 10' }
        }
      );
    const cache = new MapCache();
    const runs: Ran[] = [];
    const go = async (spec: FlowSpec, parameters?: Record<string, unknown>) => {
      const ran = await run(spec, cache, `run-${runs.length}`, { parameters });
      expect(ran.result.state).toBe('Completed');
      runs.push(ran);
      return completed(ran, 'extract').cachedFrom;
    };

    expect(await go(make('x = limit'))).toBeUndefined();
    expect(await go(make('x = limit'))).toBe('run-0');
    expect(count(counter)).toBe(1);
    // The task's code
    expect(await go(make('x = limit * 2'))).toBeUndefined();
    expect(count(counter)).toBe(2);
    // A parameter value
    expect(await go(make('x = limit * 2'), { limit: 5 })).toBeUndefined();
    expect(count(counter)).toBe(3);
    expect(await go(make('x = limit * 2'), { limit: 5 })).toBe('run-3');
    // An upstream task's code (its key is part of this one's)
    expect(
      await go(make('x = limit * 2', 'base = 2'), { limit: 5 })
    ).toBeUndefined();
    expect(count(counter)).toBe(4);
    // The --cache-key expression's value, evaluated in the kernel
    writeFileSync(keyFile, 'v2');
    expect(
      await go(make('x = limit * 2', 'base = 2'), { limit: 5 })
    ).toBeUndefined();
    expect(count(counter)).toBe(5);
    expect(await go(make('x = limit * 2', 'base = 2'), { limit: 5 })).toBe(
      'run-6'
    );
    expect(count(counter)).toBe(5);
  }, 120_000);

  it('leaves a task that sets an unserialisable value uncached, naming the variable', async () => {
    const counter = join(dir, 'gen.count');
    const spec = flow([
      task(
        'extract',
        counting(counter) +
          'import threading\nrows = [1, 2]\npending = (r for r in rows)',
        { cacheFor: 3600 }
      ),
      task('locked', 'import threading\nguard = threading.Lock()', {
        cacheFor: 3600
      })
    ]);
    const cache = new MapCache();
    const first = await run(spec, cache, 'run-1');
    expect(first.result.state).toBe('Completed');
    expect(completed(first, 'extract').reason).toBe(
      "Not cached: variable 'pending' cannot be serialised (TypeError: cannot pickle 'generator' object)"
    );
    expect(completed(first, 'locked').reason).toMatch(
      /^Not cached: variable 'guard' cannot be serialised \(TypeError: cannot pickle '_thread\.lock' object\)$/
    );
    expect(cache.entries.size).toBe(0);
    const second = await run(spec, cache, 'run-2');
    expect(completed(second, 'extract').cachedFrom).toBeUndefined();
    expect(count(counter)).toBe(2);
  }, 60_000);

  it('falls back to pickle when the kernel has no cloudpickle: values are cached, notebook functions are not', async () => {
    const counter = join(dir, 'pickle.count');
    // The kernel "without cloudpickle": importing it fails, in every run (a setup cell runs on hits too).
    const noCloudpickle = {
      cellId: 'setup',
      cellIndex: 0,
      code: "import sys\nsys.modules['cloudpickle'] = None"
    };
    const spec = flow([
      task('extract', counting(counter) + 'rows = [1, 2, 3]', {
        cacheFor: 3600,
        setup: [noCloudpickle]
      }),
      task('helper', 'def double(x):\n    return 2 * x', {
        cacheFor: 3600
      }),
      task('load', 'print(sum(rows))', { upstream: ['extract'] })
    ]);
    const cache = new MapCache();
    const first = await run(spec, cache, 'run-1');
    expect(first.result.state).toBe('Completed');
    expect(completed(first, 'helper').reason).toBe(
      "Not cached: variable 'double' cannot be serialised (defined in the notebook: pickle stores it by reference (install cloudpickle in the kernel to cache it))"
    );
    expect(
      [...cache.entries.values()].map(e => e.variables.serializer)
    ).toEqual(['pickle']);
    const second = await run(spec, cache, 'run-2');
    expect(completed(second, 'extract').cachedFrom).toBe('run-1');
    expect(count(counter)).toBe(1);
    expect(streamText(second, 'load')).toBe('6\n');
  }, 60_000);

  it('runs a cached task uncached, with a note, when its --cache-key raises', async () => {
    const spec = flow([
      task('extract', 'value = 1', {
        cacheFor: 3600,
        cacheKey: 'undefined_name'
      })
    ]);
    const cache = new MapCache();
    const ran = await run(spec, cache, 'run-1');
    expect(ran.result.state).toBe('Completed');
    expect(completed(ran, 'extract').reason).toBe(
      "Not cached: --cache-key undefined_name raised NameError: name 'undefined_name' is not defined"
    );
    expect(cache.entries.size).toBe(0);
  }, 30_000);
});
