/**
 * The run service's writes off the run loop's path (recorder.ts): task transitions reported while the
 * store is still busy go to it together, in one transaction; anything queued between them (log lines)
 * keeps its place, so the store's events are in the order things happened. A real embedded store; the
 * run loop's reports are fed to the recorder as runFlow sends them (synchronously, never waiting).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { KernelOutput } from '../../src/flow/kernel.js';
import type {
  OutputEvent,
  TaskState,
  TaskStateEvent
} from '../../src/flow/runner.js';
import {
  MAX_TRANSITIONS_PER_BATCH,
  RunRecorder
} from '../src/runs/recorder.js';
import { openPgliteStore, type Store } from '../src/store/index.js';
import type { TaskTransitionStep } from '../src/store/store.js';
import { watchedStore } from './support/watched-store.js';

let store: Store;
/** Each transitionTaskRuns call's steps, as the recorder made them. */
const batches: TaskTransitionStep[][] = [];
let counted: Store;

beforeAll(async () => {
  store = await openPgliteStore();
  counted = watchedStore(store, 'transitionTaskRuns', ([steps]) =>
    batches.push(steps as TaskTransitionStep[])
  );
});
afterAll(() => store.close());

async function runWithTasks(names: string[]) {
  const ws = await store.ensureWorkspace(
    `batch-${batches.length}-${names.length}`
  );
  const { flow } = await store.deployFlow({
    workspaceId: ws.id,
    name: 'batch',
    spec: { tasks: names.map(name => ({ name })) },
    notebook: { cells: [], nbformat: 4, nbformat_minor: 5, metadata: {} },
    kernelName: 'python3'
  });
  let run = await store.createRun({
    workspaceId: ws.id,
    flowId: flow.id,
    trigger: 'manual',
    state: 'Pending'
  });
  run = await store.transitionRun(run.id, 'Running');
  const taskRuns = await store.createTaskRuns(run.id, names);
  const failures: unknown[] = [];
  const recorder = new RunRecorder({
    store: counted,
    run,
    taskRuns,
    onFailure: error => failures.push(error)
  });
  return { ws, run, recorder, failures };
}

function state(task: string, to: TaskState, attempt = 1): TaskStateEvent {
  return {
    type: 'task-state',
    at: Date.now(),
    task,
    cellId: `cell-${task}`,
    state: to,
    previous: null,
    attempt,
    maxAttempts: 1,
    retry: attempt - 1,
    maxRetries: 0
  };
}

/** An output of a task's first attempt, as the run loop reports it. */
function output(task: string, out: KernelOutput): OutputEvent {
  return {
    type: 'output',
    at: Date.now(),
    source: 'task',
    cellId: `cell-${task}`,
    task,
    attempt: 1,
    output: out
  };
}

describe('the run recorder', () => {
  it('writes transitions reported together in one transaction, in order', async () => {
    const { ws, run, recorder, failures } = await runWithTasks(['a', 'b']);
    batches.length = 0;
    // As a fast run loop reports them: all before the store answered the first.
    for (const event of [
      state('a', 'Running'),
      state('a', 'Completed'),
      state('b', 'Running'),
      state('b', 'Completed')
    ]) {
      recorder.handle(event);
    }
    await recorder.drain();
    expect(failures).toEqual([]);
    expect(batches.map(steps => steps.map(s => s.to))).toEqual([
      ['Running', 'Completed', 'Running', 'Completed']
    ]);
    const detail = await store.getRun(ws.id, run.id);
    expect(
      detail?.taskRuns.map(t => [t.taskName, t.state, t.attemptList.length])
    ).toEqual([
      ['a', 'Completed', 1],
      ['b', 'Completed', 1]
    ]);
  });

  it('keeps a log line between two transitions between them, in the store and its events', async () => {
    const { ws, run, recorder, failures } = await runWithTasks(['a']);
    batches.length = 0;
    recorder.handle(state('a', 'Running'));
    recorder.handle(
      output('a', { output_type: 'stream', name: 'stdout', text: 'hello\n' })
    );
    recorder.handle(state('a', 'Completed'));
    await recorder.drain();
    expect(failures).toEqual([]);
    // Two transactions: the line was queued between the transitions.
    expect(batches.map(steps => steps.map(s => s.to))).toEqual([
      ['Running'],
      ['Completed']
    ]);
    const events = await store.listEvents({
      workspaceId: ws.id,
      flowRunId: run.id
    });
    expect(
      events
        .filter(e => e.type === 'task_run.state' || e.type === 'log')
        .map(e => (e.type === 'log' ? 'log' : e.payload.to))
    ).toEqual(['Running', 'log', 'Completed']);
    const detail = await store.getRun(ws.id, run.id);
    expect(detail?.taskRuns[0].attemptList[0].outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'hello\n' }
    ]);
  });

  it('writes nothing of a refused batch and reports the failure once', async () => {
    const { ws, run, recorder, failures } = await runWithTasks(['a']);
    batches.length = 0;
    // Running again after Completed is refused by the state rules: the steps before it go too.
    recorder.handle(state('a', 'Running'));
    recorder.handle(state('a', 'Completed'));
    recorder.handle({ ...state('a', 'Running'), attempt: 2 });
    await recorder.drain();
    expect(failures).toHaveLength(1);
    const detail = await store.getRun(ws.id, run.id);
    expect(detail?.taskRuns[0].state).toBe('Pending');
  });

  it('knows every committed state of a batch when saving outputs after it fails, so open tasks end Crashed', async () => {
    const { ws, run, recorder, failures } = await runWithTasks(['a', 'b']);
    // A store whose outputs cannot be saved (a full disk refuses them alone).
    (recorder as unknown as { options: { store: Store } }).options.store =
      new Proxy(counted, {
        get(target, name, receiver) {
          if (name === 'saveAttemptOutputs') {
            return () => Promise.reject(new Error('disk full'));
          }
          return Reflect.get(target, name, receiver);
        }
      });
    recorder.handle(state('a', 'Running'));
    recorder.handle(
      output('a', {
        output_type: 'display_data',
        data: { 'text/plain': 'x' },
        metadata: {}
      })
    );
    recorder.handle(state('a', 'Completed'));
    recorder.handle(state('b', 'Running'));
    await recorder.drain();
    expect(failures).toHaveLength(1);
    await recorder.closeOpenTasks('the store refused a write: disk full');
    const detail = await store.getRun(ws.id, run.id);
    expect(detail?.taskRuns.map(t => [t.taskName, t.state])).toEqual([
      ['a', 'Completed'],
      ['b', 'Crashed']
    ]);
  });

  it(`writes at most ${MAX_TRANSITIONS_PER_BATCH} transitions in one transaction`, async () => {
    const names = Array.from({ length: 75 }, (_, i) => `t${i}`);
    const { ws, run, recorder, failures } = await runWithTasks(names);
    batches.length = 0;
    for (const name of names) {
      recorder.handle(state(name, 'Running'));
      recorder.handle(state(name, 'Completed'));
    }
    await recorder.drain();
    expect(failures).toEqual([]);
    expect(batches.map(steps => steps.length)).toEqual([100, 50]);
    const detail = await store.getRun(ws.id, run.id);
    expect(detail?.taskRuns.every(t => t.state === 'Completed')).toBe(true);
  });
});
