import { describe, expect, it } from 'vitest';

import type { ICellflowEvent } from '../../api/event-stream.js';
import type {
  FlowRunState,
  IFlowRunDetail,
  ILogLine
} from '../../api/types.js';
import { LOG_PAGE, RunViewModel } from '../run-view-model.js';
import { FakeTransport } from './fake-transport.js';

function run(id: string, state: FlowRunState): IFlowRunDetail {
  return {
    id,
    flowId: 'f1',
    flowVersion: 1,
    state,
    trigger: 'manual',
    parameters: {},
    createdAt: '2026-01-01T12:00:00Z',
    taskRuns: []
  };
}

function line(id: number, task: string, text: string): ILogLine {
  return {
    id,
    task,
    attempt: 1,
    stream: 'stdout',
    text,
    at: '2026-01-01T12:00:00Z'
  };
}

function view(state: FlowRunState, lines: ILogLine[] = []) {
  const transport = new FakeTransport();
  transport.loggedInKey = 'cf_main';
  const ws = transport.workspace('cf_main');
  ws.runs.push(run('r1', state));
  ws.logs.set('r1', lines);
  const client = transport.client();
  return { transport, model: new RunViewModel(() => client, 'r1') };
}

const event = (type: string, payload: Record<string, unknown>) =>
  ({
    id: 1,
    type,
    flowId: 'f1',
    flowRunId: 'r1',
    payload,
    at: ''
  }) as ICellflowEvent;

describe('RunViewModel', () => {
  it('reads every stored log line a page at a time, one row per line of text', async () => {
    const stored = Array.from({ length: LOG_PAGE + 5 }, (_, i) =>
      line(i + 1, i % 2 ? 'load' : 'extract', `line ${i + 1}`)
    );
    stored[0] = line(1, 'extract', 'first\nsecond\n');
    const { model, transport } = view('Completed', stored);
    await model.load();
    expect(model.logs).toHaveLength(LOG_PAGE + 5);
    expect(transport.requestsTo('cellflow/api/runs/r1/logs')).toHaveLength(2);
    expect(model.logRows.slice(0, 3).map(r => [r.label, r.text])).toEqual([
      ['extract#1', 'first'],
      ['extract#1', 'second'],
      ['load#1', 'line 2']
    ]);
  });

  it('appends live lines once and in order, and filters rows by task and search', async () => {
    const { model } = view('Running', [line(1, 'extract', 'Fetched 10 users')]);
    await model.load();
    model.handleEvent(
      event('log', {
        lines: [
          line(3, 'load', '\u001b[31mERROR\u001b[0m disk'),
          line(2, 'extract', 'done')
        ]
      })
    );
    model.handleEvent(event('log', { lines: [line(2, 'extract', 'done')] }));
    expect(model.logs.map(l => l.id)).toEqual([1, 2, 3]);
    model.search = 'error';
    expect(model.logRows.map(r => r.id)).toEqual(['3.0']);
    model.search = '';
    model.task = 'extract';
    expect(model.logRows.map(r => r.text)).toEqual([
      'Fetched 10 users',
      'done'
    ]);
  });

  it('offers the actions the state allows: Cancel while it has not ended', async () => {
    const { model, transport } = view('Pending');
    await model.load();
    expect(model.actions).toEqual(['cancel']);
    const cancelling = model.cancel();
    expect(model.isBusy('cancel')).toBe(true);
    expect(await cancelling).toBe(true);
    expect(model.isBusy('cancel')).toBe(false);
    expect(model.run?.state).toBe('Cancelled');
    expect(model.actions).toEqual(['retry']);
    expect(transport.requestsTo('cellflow/api/runs/r1/cancel')).toHaveLength(1);
  });

  it('retries an ended failed run into a new run, and shows a refusal', async () => {
    const { model, transport } = view('Failed');
    await model.load();
    expect(model.actions).toEqual(['retry']);
    expect(await model.retry()).toBe('r1-retry');
    transport.workspace('cf_main').runs[0].state = 'Completed';
    expect(await model.retry()).toBeNull();
    expect(model.error).toMatch(/cannot be retried/);
  });

  it('reads the run again on a state event', async () => {
    const { model, transport } = view('Running');
    await model.load();
    transport.workspace('cf_main').runs[0].state = 'Completed';
    model.handleEvent(event('flow_run.state', { to: 'Completed' }));
    await expect.poll(() => model.run?.state).toBe('Completed');
    expect(model.actions).toEqual([]);
  });
});
