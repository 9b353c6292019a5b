import { describe, expect, it } from 'vitest';

import type { TaskStateEvent } from '../../flow/runner.js';
import {
  describeLiveState,
  describePreviousState,
  formatDuration,
  fromServerTaskEvent
} from '../chip-state.js';
import { NotebookFlowModel } from '../notebook-flow-model.js';

const cell = (id: string, source: string, metadata = {}) => ({
  id,
  cell_type: 'code',
  source,
  metadata
});

function taskEvent(partial: Partial<TaskStateEvent>): TaskStateEvent {
  return {
    type: 'task-state',
    at: 1000,
    task: 'extract',
    cellId: 'a',
    state: 'Running',
    previous: 'Pending',
    attempt: 1,
    maxAttempts: 3,
    retry: 0,
    maxRetries: 2,
    ...partial
  };
}

describe('NotebookFlowModel', () => {
  it('puts the chip of a notebook without %%task cells (one task, "notebook") on its first code cell', () => {
    const model = new NotebookFlowModel();
    model.setNotebook({
      cells: [
        cell('p', 'msg = None', { tags: ['parameters'] }),
        cell('a', 'import os'),
        cell('b', 'print(msg)')
      ]
    });
    expect(model.chipView('a')).toMatchObject({
      name: 'notebook',
      settings: { retries: 0, timeout: null },
      problems: [],
      live: null
    });
    expect(model.chipView('b')).toBeNull();
    expect(model.cellOfTask('notebook')).toBe('a');
    model.applyRunEvent(
      taskEvent({ task: 'notebook', cellId: 'a', state: 'Running' })
    );
    expect(model.chipView('a')?.live?.state).toBe('Running');
  });

  it("a new cell that takes a task name already used shows its problem, never the other cell's state", () => {
    const model = new NotebookFlowModel();
    model.setNotebook({ cells: [cell('a', '%%task extract\nx = 1')] });
    model.applyRunEvent(
      taskEvent({ task: 'extract', cellId: 'a', state: 'Completed' })
    );
    expect(model.chipView('a')?.live?.state).toBe('Completed');

    model.setNotebook({
      cells: [
        cell('a', '%%task extract\nx = 1'),
        cell('b', '%%task extract\ny = 2')
      ]
    });
    expect(model.chipView('b')?.live).toBeNull();
    expect(model.chipView('b')?.problems.join(' ')).toContain('extract');
    expect(model.chipView('a')?.live).toBeNull();

    // The duplicate renamed: the first cell's state shows again, the new cell has none.
    model.setNotebook({
      cells: [
        cell('a', '%%task extract\nx = 1'),
        cell('b', '%%task extract2\ny = 2')
      ]
    });
    expect(model.chipView('a')?.live?.state).toBe('Completed');
    expect(model.chipView('b')?.live).toBeNull();
  });

  it('keeps a failed run in sight while the next run has not ended the task, and drops it once it has', () => {
    const model = new NotebookFlowModel();
    model.setNotebook({ cells: [cell('a', '%%task extract\nx = 1')] });
    model.applyRunEvent(
      taskEvent({
        state: 'Failed',
        error: { ename: 'E', evalue: 'boom', traceback: [], summary: 'E: boom' }
      } as Partial<TaskStateEvent>)
    );
    // The next (scheduled) run takes the chip.
    model.resetLive();
    model.setAllTasks('Pending', 2000);
    expect(model.chipView('a')?.live?.state).toBe('Pending');
    expect(model.chipView('a')?.previous).toMatchObject({
      state: 'Failed',
      error: 'E: boom'
    });
    expect(describePreviousState(model.chipView('a')!.previous!)).toBe(
      'last run Failed: E: boom'
    );
    model.resetLive();
    model.applyRunEvent(taskEvent({ state: 'Running', at: 3000 }));
    expect(model.chipView('a')?.previous?.state).toBe('Failed');
    model.applyRunEvent(taskEvent({ state: 'Completed', at: 4000 }));
    expect(model.chipView('a')?.previous).toBeNull();
    // A completed run is not worth a note on the next one.
    model.resetLive();
    model.setAllTasks('Pending', 5000);
    expect(model.chipView('a')?.previous?.state).toBe('Completed');
    expect(describePreviousState(model.chipView('a')!.previous!)).toBeNull();
  });

  it('finds task cells from %%task lines and metadata, and compiles the flow', () => {
    const model = new NotebookFlowModel();
    let changes = 0;
    model.changed.connect(() => changes++);
    model.setNotebook({
      cells: [
        cell('a', '%%task extract --retries 2\nx = 1'),
        cell('b', 'import os'),
        cell('c', 'y = x', { cellflow: { task: { name: 'load', timeout: 5 } } })
      ]
    });
    expect(changes).toBe(1);
    expect(model.taskOfCell('b')).toBeNull();
    expect(model.chipView('a')).toMatchObject({
      name: 'extract',
      settings: { retries: 2, timeout: null },
      problems: [],
      live: null
    });
    expect(model.chipView('c')?.settings.timeout).toBe(5);
    const compiled = model.compiled;
    expect(compiled?.ok).toBe(true);
    if (compiled?.ok) {
      expect(compiled.spec.tasks.map(t => [t.name, t.upstream])).toEqual([
        ['extract', []],
        ['load', ['extract']]
      ]);
    }
  });

  it('puts a bad option and a compiler problem on the chip of the cell at fault', () => {
    const model = new NotebookFlowModel();
    model.setNotebook({
      cells: [
        cell('a', '%%task extract --retries -1\nx = 1'),
        cell('b', '%%task extract\ny = 2')
      ]
    });
    expect(model.chipView('a')?.problems.join('\n')).toContain(
      'retries must be a whole number ≥ 0'
    );
    expect(model.compiled?.ok).toBe(false);
    expect(model.chipView('b')?.problems.join('\n')).toMatch(/extract/);
  });

  it('folds run events into live states: Retrying 1/2, then Completed with its duration', () => {
    const model = new NotebookFlowModel();
    model.setNotebook({
      cells: [cell('a', '%%task extract --retries 2\nx = 1')]
    });
    let liveChanges = 0;
    model.liveChanged.connect(() => liveChanges++);
    model.applyRunEvent(taskEvent({ state: 'Running', at: 1000 }));
    model.applyRunEvent(
      taskEvent({
        state: 'AwaitingRetry',
        at: 1500,
        error: {
          ename: 'RuntimeError',
          evalue: 'x',
          traceback: [],
          summary: 'RuntimeError: x'
        }
      })
    );
    let live = model.chipView('a')!.live!;
    expect(describeLiveState(live, 1600)).toBe('Retrying 1/2 soon');
    model.applyRunEvent(
      taskEvent({ state: 'Retrying', attempt: 2, retry: 1, at: 2000 })
    );
    live = model.chipView('a')!.live!;
    expect(describeLiveState(live, 2500)).toBe('Retrying 1/2 0.5 s');
    model.applyRunEvent(
      taskEvent({ state: 'Completed', attempt: 2, at: 3200 })
    );
    live = model.chipView('a')!.live!;
    expect(describeLiveState(live, 9999)).toBe('Completed in 2.2 s');
    expect(liveChanges).toBe(4);

    model.resetLive();
    expect(model.chipView('a')!.live).toBeNull();
  });

  it('describes failures with the error line, and timeouts as such', () => {
    const model = new NotebookFlowModel();
    model.setNotebook({ cells: [cell('a', '%%task extract\nx = 1')] });
    model.applyRunEvent(
      taskEvent({
        state: 'Failed',
        error: {
          ename: 'TimeoutError',
          evalue: 'timed out after 1 s',
          traceback: [],
          summary: 'TimeoutError: timed out after 1 s',
          timedOut: true
        }
      })
    );
    expect(describeLiveState(model.chipView('a')!.live!, 0)).toBe(
      'Failed (timed out): TimeoutError: timed out after 1 s'
    );
  });

  it('formats durations as people read them', () => {
    expect(formatDuration(420)).toBe('0.4 s');
    expect(formatDuration(12_400)).toBe('12 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
  });

  it("reads the server's task events: retries from the spec, and a task skipped for its upstream as Not run", () => {
    const retrying = fromServerTaskEvent(
      {
        taskName: 'extract',
        from: 'AwaitingRetry',
        to: 'Retrying',
        attempt: 2
      },
      '2026-11-24T10:00:00.000Z',
      3
    );
    expect(retrying).toMatchObject({
      task: 'extract',
      state: 'Retrying',
      attempt: 2,
      maxAttempts: 4,
      retry: 1
    });
    const skipped = fromServerTaskEvent(
      {
        taskName: 'load',
        from: 'Pending',
        to: 'Cancelled',
        reason: "upstream task 'extract' is Failed"
      },
      '2026-11-24T10:00:01.000Z',
      0
    );
    expect(skipped.state).toBe('NotRun');
    const cancelled = fromServerTaskEvent(
      {
        taskName: 'load',
        from: 'Running',
        to: 'Cancelled',
        reason: 'Cancelled by user'
      },
      '2026-11-24T10:00:01.000Z',
      0
    );
    expect(cancelled.state).toBe('Cancelled');
  });
});
