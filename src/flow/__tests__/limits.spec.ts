/**
 * Numbers without bounds: every number a user gives (a `%%task` option, cell metadata, a schedule's
 * interval) is refused past the bounds of limits.ts, naming the cell and the field; and the run loop
 * never hands a timer more than 2^31-1 ms, whatever a stored spec says.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

import { retryDelayMs } from '../backoff.js';
import { compileNotebook } from '../compiler.js';
import type { ExecuteResult, FlowKernel } from '../kernel.js';
import { LIMITS, MAX_TIMER_MS } from '../limits.js';
import { parseTaskMagic, readCellflowMetadata } from '../magic.js';
import { defaultSleep, runFlow } from '../runner.js';
import { nextRuns } from '../schedule.js';
import { tryParseEvery } from '../schedule-interval.js';
import { validateSchedule } from '../schedule-validate.js';
import { FLOW_SPEC_VERSION, type FlowSpec, type TaskSpec } from '../spec.js';

const messages = (line: string) =>
  parseTaskMagic(line).problems.map(p => p.message);

describe('%%task options past their bounds', () => {
  it.each([
    ['--retries 101', '--retries must be at most 100, got "101"'],
    [
      '--retry-delay 99999999999',
      '--retry-delay must be at most 86400 seconds, got "99999999999"'
    ],
    [
      '--retry-delay 1e308',
      '--retry-delay must be at most 86400 seconds, got "1e308"'
    ],
    [
      '--retry-delay 1e400',
      '--retry-delay must be at most 86400 seconds, got "1e400"'
    ],
    ['--backoff 11', '--backoff must be at most 10, got "11"'],
    [
      '--timeout 1e308',
      '--timeout must be at most 604800 seconds, got "1e308"'
    ],
    [
      '--timeout 604801',
      '--timeout must be at most 604800 seconds, got "604801"'
    ]
  ])('%s is a problem', (options, message) => {
    expect(messages(`%%task t ${options}`)).toEqual([message]);
    expect(parseTaskMagic(`%%task t ${options}`).settings).toEqual({});
  });

  it('accepts the bounds themselves', () => {
    const magic = parseTaskMagic(
      '%%task t --retries 100 --retry-delay 86400 --backoff 10 --timeout 604800'
    );
    expect(magic.problems).toEqual([]);
    expect(magic.settings).toEqual({
      retries: 100,
      retryDelay: 86400,
      backoff: 10,
      timeout: 604800
    });
  });

  it('refuses metadata past the bounds', () => {
    const read = readCellflowMetadata({
      cellflow: {
        task: {
          name: 't',
          retries: 2 ** 53,
          retryDelay: 1e308,
          backoff: 1e30,
          timeout: 1e308
        }
      }
    });
    expect(read.problems.map(p => p.message)).toEqual([
      'metadata.cellflow.task.retries must be at most 100, got 9007199254740992',
      'metadata.cellflow.task.retryDelay must be at most 86400 seconds, got 1e+308',
      'metadata.cellflow.task.backoff must be at most 10, got 1e+30',
      'metadata.cellflow.task.timeout must be at most 604800 seconds, got 1e+308'
    ]);
    expect(read.task?.settings).toEqual({});
  });

  it('the compiler names the cell and the field', () => {
    const cell = (source: string, metadata: object = {}) => ({
      cell_type: 'code',
      id: `c${Math.random().toString(36).slice(2, 8)}`,
      metadata,
      source,
      outputs: [],
      execution_count: null
    });
    const result = compileNotebook({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [
        cell('%%task a --retry-delay 99999999999\nx = 1'),
        cell('y = 2', {
          cellflow: { task: { name: 'b', timeout: 1e308 } }
        })
      ]
    });
    expect(result.ok).toBe(false);
    expect(
      result.ok
        ? []
        : result.problems.map(p => [p.code, p.cellIndex, p.message])
    ).toEqual([
      [
        'invalid-retry-delay',
        0,
        'Cell 1 (task "a"): --retry-delay must be at most 86400 seconds, got "99999999999"'
      ],
      [
        'invalid-timeout',
        1,
        'Cell 2 (task "b"): metadata.cellflow.task.timeout must be at most 604800 seconds, got 1e+308'
      ]
    ]);
  });
});

describe('interval schedules past their bounds', () => {
  it.each([
    ['999999999d'],
    ['367d'],
    [1e30],
    [2 ** 53],
    [1e308],
    [LIMITS.every.max + 1]
  ])('every %s is refused, naming the field', every => {
    const result = validateSchedule({ kind: 'interval', every });
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.problems.map(p => p.field)).toEqual([
      'every'
    ]);
    expect(result.ok ? '' : result.problems[0].message).toMatch(
      /at most 366 days/
    );
  });

  it('366 days is the longest interval, and its runs are valid dates', () => {
    expect(tryParseEvery('366d')).toBe(LIMITS.every.max);
    const runs = nextRuns(
      { kind: 'interval', every: LIMITS.every.max },
      { after: new Date('2026-01-01T00:00:00Z'), count: 3 }
    );
    expect(runs).toHaveLength(3);
    expect(runs.every(d => Number.isFinite(d.getTime()))).toBe(true);
  });

  it('nextRuns of a stored schedule beyond the bounds gives no invalid date', () => {
    // A row written before the bounds existed: the maths must not throw nor give Invalid Date.
    const runs = nextRuns(
      { kind: 'interval', every: 999999999 * 86400 },
      { after: new Date('2026-01-01T00:00:00Z'), count: 3 }
    );
    expect(runs.every(d => Number.isFinite(d.getTime()))).toBe(true);
  });
});

describe('timers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a retry never waits more than one day, whatever the backoff', () => {
    const oneDay = 86_400_000;
    expect(retryDelayMs({ retryDelay: 86400, backoff: 10 }, 100)).toBe(oneDay);
    expect(retryDelayMs({ retryDelay: 1e308, backoff: 1 }, 1)).toBe(oneDay);
    expect(retryDelayMs({ retryDelay: 99999999999, backoff: 1 }, 1)).toBe(
      oneDay
    );
    expect(retryDelayMs({ retryDelay: NaN, backoff: NaN }, 1)).toBe(0);
    expect(
      retryDelayMs({ retryDelay: 86400, backoff: 1 }, 1, {
        jitter: 1,
        random: () => 0.999
      })
    ).toBeLessThanOrEqual(oneDay);
  });

  it('the run loop never asks for a timer beyond 2^31-1 ms, even for a stored spec past the bounds', async () => {
    const task = (name: string, settings: Partial<TaskSpec>): TaskSpec => ({
      name,
      cellId: name,
      cellIndex: 0,
      code: `run_${name}()`,
      setup: [],
      upstream: [],
      retries: 0,
      retryDelay: 0,
      backoff: 1,
      timeout: null,
      ...settings
    });
    const spec: FlowSpec = {
      version: FLOW_SPEC_VERSION,
      name: 'f',
      parameters: [],
      parametersCell: null,
      tasks: [
        task('a', { retries: 3, retryDelay: 99999999999, timeout: 1e308 }),
        task('b', { retries: 2, retryDelay: 1e308, backoff: 1e308 })
      ],
      teardown: [],
      hash: 'x'
    };
    const failing: ExecuteResult = {
      status: 'error',
      ename: 'ValueError',
      evalue: 'no'
    };
    let calls = 0;
    const kernel: FlowKernel = {
      execute: async () => {
        calls++;
        // a fails every attempt; b fails, then completes.
        return calls <= 4 || calls === 5 ? failing : { status: 'ok' };
      },
      interrupt: async () => undefined
    };
    const sleeps: number[] = [];
    const result = await runFlow(spec, kernel, {
      sleep: async ms => {
        sleeps.push(ms);
      }
    });
    expect(result.state).toBe('Failed');
    expect(sleeps.length).toBeGreaterThan(0);
    for (const ms of sleeps) {
      expect(Number.isFinite(ms)).toBe(true);
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThanOrEqual(MAX_TIMER_MS);
    }
  });

  it('defaultSleep waits past 2^31-1 ms instead of firing at once', async () => {
    vi.useFakeTimers();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    let done = false;
    void defaultSleep(MAX_TIMER_MS * 2 + 10, new AbortController().signal).then(
      () => {
        done = true;
      }
    );
    await vi.advanceTimersByTimeAsync(1000);
    expect(done).toBe(false);
    for (const call of spy.mock.calls) {
      expect(call[1] ?? 0).toBeLessThanOrEqual(MAX_TIMER_MS);
    }
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS * 2 + 10);
    expect(done).toBe(true);
    spy.mockRestore();
  });
});
