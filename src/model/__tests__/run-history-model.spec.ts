import { describe, expect, it } from 'vitest';

import type { FlowRunState, IFlowRunDetail } from '../../api/types.js';
import {
  formatParameters,
  HISTORY_PAGE,
  RunHistoryModel,
  UPCOMING_RUNS
} from '../run-history-model.js';
import { FakeTransport } from './fake-transport.js';

const NOW = Date.parse('2026-01-10T12:00:00Z');
const hoursAgo = (h: number) => new Date(NOW - h * 3_600_000).toISOString();

function run(
  id: string,
  state: FlowRunState,
  trigger: string,
  times: { startedAt?: string; scheduledAt?: string; createdAt?: string }
): IFlowRunDetail {
  return {
    id,
    flowId: 'f1',
    flowVersion: 1,
    state,
    trigger,
    parameters: {},
    createdAt: times.createdAt ?? times.scheduledAt ?? times.startedAt!,
    scheduledAt: times.scheduledAt ?? null,
    startedAt: times.startedAt ?? null,
    endedAt: null,
    taskRuns: []
  };
}

function history(runs: IFlowRunDetail[]) {
  const transport = new FakeTransport();
  transport.loggedInKey = 'cf_main';
  transport.workspace('cf_main').runs.push(...runs);
  const client = transport.client();
  return {
    transport,
    model: new RunHistoryModel(
      () => client,
      'f1',
      () => NOW
    )
  };
}

describe('RunHistoryModel', () => {
  it('shows past runs newest first by when they started or were due, and planned runs apart, soonest first', async () => {
    const { model } = history([
      // Made ahead by a schedule, so made before the manual run, but it started after it.
      run('sched', 'Completed', 'scheduled', {
        createdAt: hoursAgo(5),
        scheduledAt: hoursAgo(1),
        startedAt: hoursAgo(1)
      }),
      run('manual', 'Failed', 'manual', { startedAt: hoursAgo(2) }),
      run('next2', 'Scheduled', 'scheduled', {
        createdAt: hoursAgo(3),
        scheduledAt: hoursAgo(-2)
      }),
      run('next1', 'Scheduled', 'scheduled', {
        createdAt: hoursAgo(3),
        scheduledAt: hoursAgo(-1)
      })
    ]);
    await model.load();
    expect(model.past.map(r => r.id)).toEqual(['sched', 'manual']);
    expect(model.upcoming.map(r => r.id)).toEqual(['next1', 'next2']);
    expect(model.hasMore).toBe(false);
  });

  it('filters by state, trigger and time range, on the server', async () => {
    const { model, transport } = history([
      run('old', 'Failed', 'manual', { startedAt: hoursAgo(48) }),
      run('failed', 'Failed', 'scheduled', { startedAt: hoursAgo(3) }),
      run('ok', 'Completed', 'manual', { startedAt: hoursAgo(2) })
    ]);
    await model.setFilter({ state: 'Failed' });
    expect(model.past.map(r => r.id)).toEqual(['failed', 'old']);
    await model.setFilter({ trigger: 'manual' });
    expect(model.past.map(r => r.id)).toEqual(['old']);
    await model.setFilter({ trigger: '', range: '24h' });
    expect(model.past.map(r => r.id)).toEqual(['failed']);
    const last = transport.requestsTo('cellflow/api/runs?').at(-2)!.path;
    expect(new URLSearchParams(last.split('?')[1]).get('from')).toBe(
      hoursAgo(24)
    );
  });

  it('pages through older runs with the cursor, each run once', async () => {
    const runs = Array.from({ length: HISTORY_PAGE + 3 }, (_, i) =>
      run(`r${i}`, 'Completed', 'manual', { startedAt: hoursAgo(100 - i) })
    );
    const { model } = history(runs);
    await model.load();
    expect(model.past).toHaveLength(HISTORY_PAGE);
    expect(model.hasMore).toBe(true);
    await model.more();
    expect(model.past).toHaveLength(HISTORY_PAGE + 3);
    expect(new Set(model.past.map(r => r.id)).size).toBe(HISTORY_PAGE + 3);
    expect(model.past[0].id).toBe(`r${HISTORY_PAGE + 2}`);
    expect(model.hasMore).toBe(false);
  });

  it('moves a planned run to the past when it starts, and keeps out what the filters exclude', async () => {
    const planned = Array.from({ length: UPCOMING_RUNS + 2 }, (_, i) =>
      run(`p${i}`, 'Scheduled', 'scheduled', { scheduledAt: hoursAgo(-i - 1) })
    );
    const { model } = history(planned);
    await model.setFilter({ state: 'Running' });
    expect(model.upcoming.map(r => r.id)).toEqual(
      planned.slice(0, UPCOMING_RUNS).map(r => r.id)
    );
    model.noteRun({ ...planned[0], state: 'Running', startedAt: hoursAgo(0) });
    expect(model.upcoming[0].id).toBe('p1');
    expect(model.past.map(r => r.id)).toEqual(['p0']);
    model.noteRun({
      ...planned[0],
      state: 'Completed',
      startedAt: hoursAgo(0)
    });
    expect(model.past).toEqual([]);
  });

  it('writes parameters as name: value', () => {
    expect(formatParameters({ n: 3, city: 'Oslo', tags: ['a'] })).toBe(
      'n: 3, city: Oslo, tags: ["a"]'
    );
    expect(formatParameters({})).toBe('');
  });
});
