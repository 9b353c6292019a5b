import { afterEach, describe, expect, it } from 'vitest';

import type { IFlowRunDetail, ITaskRun } from '../../api/types.js';
import { ConnectionModel } from '../connection-model.js';
import { RunsDashboardModel } from '../runs-dashboard-model.js';
import { FakeTransport } from './fake-transport.js';

const models: RunsDashboardModel[] = [];
afterEach(() => {
  for (const model of models.splice(0)) {
    model.dispose();
  }
});

function task(
  name: string,
  state: ITaskRun['state'],
  attempts: [string, string, string | null][]
): ITaskRun {
  return {
    id: `${name}-t`,
    taskName: name,
    state,
    attemptCount: attempts.length,
    startedAt: attempts[0]?.[1] ?? null,
    endedAt: attempts.at(-1)?.[2] ?? null,
    attempts: attempts.map(([s, from, to], i) => ({
      id: `${name}-${i}`,
      attempt: i + 1,
      state: s,
      startedAt: from,
      endedAt: to,
      outputs: []
    }))
  };
}

function run(
  id: string,
  flowId: string,
  state: IFlowRunDetail['state'],
  taskRuns: ITaskRun[]
): IFlowRunDetail {
  return {
    id,
    flowId,
    flowVersion: 1,
    state,
    trigger: 'manual',
    parameters: {},
    createdAt: '2026-01-01T12:00:00Z',
    startedAt: taskRuns[0]?.startedAt ?? null,
    taskRuns
  };
}

const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, s)).toISOString();

async function settled(model: RunsDashboardModel): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
    if (!model.loading && model.flows.length > 0) {
      return;
    }
  }
  throw new Error('the dashboard did not load');
}

async function dashboard(selection: { flowId?: string; runId?: string } = {}) {
  const transport = new FakeTransport();
  transport.addFlow('cf_main', 'f1');
  transport.addFlow('cf_main', 'f2');
  const ws = transport.workspace('cf_main');
  ws.runs.push(
    run('r1', 'f1', 'Failed', [
      task('extract', 'Completed', [['Completed', T(0), T(1)]]),
      task('load', 'Failed', [['Failed', T(1), T(2)]])
    ]),
    run('r2', 'f1', 'Completed', [
      task('extract', 'Completed', [['Completed', T(10), T(11)]]),
      task('load', 'Completed', [
        ['Failed', T(11), T(12)],
        ['Completed', T(13), T(14)]
      ]),
      task('report', 'Completed', [['Completed', T(14), T(15)]])
    ]),
    run('other', 'f2', 'Completed', [
      task('x', 'Completed', [['Completed', T(0), T(1)]])
    ])
  );
  const connection = new ConnectionModel(transport.client());
  await connection.login('http://cellflow.test', 'cf_main');
  const model = new RunsDashboardModel(connection, selection);
  models.push(model);
  await settled(model);
  return { transport, model };
}

describe('RunsDashboardModel', () => {
  it("lists the workspace's flows with their schedules and newest run when no flow is chosen", async () => {
    const { model, transport } = await dashboard();
    expect(model.flowId).toBeNull();
    expect(model.history).toBeNull();
    expect(model.flows.map(f => f.id)).toEqual(['f1', 'f2']);
    await expect.poll(() => model.summary('f1')?.lastRun?.id).toBe('r2');
    // A run a schedule made ahead is not the last run, nor a column of the flow's grid.
    transport.workspace('cf_main').runs.push({
      ...transport.workspace('cf_main').runs[0],
      id: 'planned',
      state: 'Scheduled',
      taskRuns: []
    });
    await model.refresh();
    expect(model.summary('f1')?.lastRun?.id).toBe('r2');
    await model.selectFlow('f1');
    expect(model.runs.map(r => r.id)).toEqual(['r1', 'r2']);
    expect(model.history?.upcoming.map(r => r.id)).toEqual(['planned']);
    await model.selectFlow(null);
    expect(model.summary('f2')?.lastRun?.id).toBe('other');
    expect(model.summary('f1')?.schedules).toEqual([]);
    // A schedule added elsewhere shows at the next refresh.
    transport.workspace('cf_main').flows.get('f2')!.schedules.push({
      id: 's9',
      kind: 'interval',
      every: 10,
      paused: false,
      missedPolicy: 'skip',
      description: 'Every 10 seconds',
      nextRuns: []
    });
    await model.refresh();
    expect(model.summary('f2')?.schedules.map(s => s.description)).toEqual([
      'Every 10 seconds'
    ]);
  });

  it("shows a flow's runs as the grid's columns, oldest first, and its tasks as rows in run order", async () => {
    const { model } = await dashboard({ flowId: 'f1' });
    expect(model.flows.map(f => f.id)).toEqual(['f1', 'f2']);
    expect(model.flowId).toBe('f1');
    expect(model.runs.map(r => r.id)).toEqual(['r1', 'r2']);
    // A task the newer run added comes after the others.
    expect(model.tasks).toEqual(['extract', 'load', 'report']);
    const [r1, r2] = model.runs;
    expect(model.cell(r1, 'load')).toMatchObject({
      state: 'Failed',
      attempts: 1
    });
    expect(model.cell(r2, 'load')).toMatchObject({
      state: 'Completed',
      attempts: 2,
      startedAt: T(11),
      endedAt: T(14)
    });
    // A run without that task has no cell.
    expect(model.cell(r1, 'report')).toBeNull();
  });

  it('opens on the flow and run it was given (a restored view), and draws that run as a Gantt strip', async () => {
    const { model } = await dashboard({ flowId: 'f1', runId: 'r2' });
    expect(model.selectedRun?.id).toBe('r2');
    const { bars, spanMs } = model.gantt();
    expect(spanMs).toBe(5000);
    expect(
      bars.map(b => [b.task, b.attempt, b.state, b.fromMs, b.toMs])
    ).toEqual([
      ['extract', 1, 'Completed', 0, 1000],
      ['load', 1, 'Failed', 1000, 2000],
      ['load', 2, 'Completed', 3000, 4000],
      ['report', 1, 'Completed', 4000, 5000]
    ]);
  });

  it('ends a running attempt at now, and switches flows', async () => {
    const { transport, model } = await dashboard({ flowId: 'f1' });
    transport
      .workspace('cf_main')
      .runs.push(
        run('r3', 'f1', 'Running', [
          task('extract', 'Running', [['Running', T(20), null]])
        ])
      );
    await model.refresh();
    model.selectRun('r3');
    const { bars } = model.gantt(Date.parse(T(22)));
    expect(bars).toEqual([
      expect.objectContaining({ task: 'extract', toMs: 2000, open: true })
    ]);
    await model.selectFlow('f2');
    expect(model.runId).toBeNull();
    expect(model.runs.map(r => r.id)).toEqual(['other']);
    expect(model.tasks).toEqual(['x']);
  });

  it("charts the grid's runs' durations, a running one up to now", async () => {
    const { transport, model } = await dashboard({ flowId: 'f1' });
    transport
      .workspace('cf_main')
      .runs.push(
        run('r3', 'f1', 'Running', [
          task('extract', 'Running', [['Running', T(20), null]])
        ])
      );
    await model.refresh();
    const [r1, r2] = model.runs;
    r1.endedAt = T(2);
    r2.endedAt = T(15);
    expect(
      model.durations(Date.parse(T(23))).map(d => [d.runId, d.ms, d.open])
    ).toEqual([
      ['r1', 2000, false],
      ['r2', 5000, false],
      ['r3', 3000, true]
    ]);
  });

  it("opens a run on one task (a chip's click), and a retry shows the new run", async () => {
    const { transport, model } = await dashboard({
      flowId: 'f1',
      runId: 'r1',
      task: 'load'
    });
    await expect.poll(() => model.runView?.run?.id).toBe('r1');
    expect(model.runView?.task).toBe('load');
    expect(model.history?.past.map(r => r.id)).toEqual(['r2', 'r1']);
    await model.retrySelected();
    expect(model.runId).toBe('r1-retry');
    expect(transport.requestsTo('cellflow/api/runs/r1/retry')).toHaveLength(1);
    await expect.poll(() => model.runView?.run?.trigger).toBe('retry');
  });

  it("shows a run given alone (a notification's link) on its own flow", async () => {
    const { model } = await dashboard({ runId: 'other' });
    await expect.poll(() => model.flowId).toBe('f2');
    expect(model.history?.flowId).toBe('f2');
    await expect.poll(() => model.runView?.run?.id).toBe('other');
  });
});
