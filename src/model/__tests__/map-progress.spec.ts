/**
 * A mapped task on its chip: the model gathers its elements' live states (`fetch[0]`, ...) under the
 * task's cell, and the chip says how far they got ("3/5 completed, 1 retrying"); the grid puts the
 * elements under their task.
 */
import { describe, expect, it } from 'vitest';

import { groupElements } from '../../flow/mapping-options.js';
import type { TaskStateEvent } from '../../flow/runner.js';
import {
  describeMapProgress,
  describeSettings,
  ITaskLiveState
} from '../chip-state.js';
import { NotebookFlowModel } from '../notebook-flow-model.js';

function event(
  task: string,
  state: TaskStateEvent['state'],
  attempt = 1
): TaskStateEvent {
  return {
    type: 'task-state',
    at: 1000,
    task,
    cellId: 'f',
    state,
    previous: null,
    attempt,
    maxAttempts: 2,
    retry: attempt - 1,
    maxRetries: 1
  };
}

const live = (state: ITaskLiveState['state']): ITaskLiveState => ({
  state,
  attempt: 1,
  maxAttempts: 2,
  since: 0
});

describe('a mapped task on its chip', () => {
  it("gathers the elements' states under the task's cell, in element order", () => {
    const model = new NotebookFlowModel();
    model.setNotebook({
      cells: [
        { id: 'm', cell_type: 'code', source: '%%task make\nurls = [1, 2]' },
        {
          id: 'f',
          cell_type: 'code',
          source: '%%task fetch --map url=urls --retries 1\nurl'
        }
      ]
    });
    const changed: (string | null)[] = [];
    model.liveChanged.connect((_, change) => changed.push(change.task));
    model.applyRunEvent(event('fetch', 'Running'));
    for (const i of [1, 0, 2]) {
      model.applyRunEvent(event(`fetch[${i}]`, 'Pending', 0));
    }
    model.applyRunEvent(event('fetch[0]', 'Completed'));
    model.applyRunEvent(event('fetch[1]', 'AwaitingRetry'));
    const view = model.chipView('f')!;
    expect(view.map).toEqual({ name: 'url', over: 'urls' });
    expect(view.elements?.map(e => e.state)).toEqual([
      'Completed',
      'AwaitingRetry',
      'Pending'
    ]);
    expect(describeMapProgress(view.elements!)).toBe(
      '1/3 completed, 1 retrying'
    );
    // An element's change redraws its task's chip alone.
    expect(model.cellOfTask('fetch[1]')).toBe('f');
    expect(changed).toContain('fetch[1]');
    // A task that is not mapped has no elements.
    expect(model.chipView('m')).not.toHaveProperty('elements');
    expect(describeSettings(view.settings, undefined, view.map)).toBe(
      'map url in urls · retries 1'
    );
  });

  it('says how far the elements got, leaving out what is 0', () => {
    expect(describeMapProgress([])).toBe('');
    expect(
      describeMapProgress([
        ...Array(7).fill(live('Completed')),
        live('Retrying'),
        live('Running'),
        live('Failed')
      ])
    ).toBe('7/10 completed, 1 running, 1 retrying, 1 failed');
    expect(describeMapProgress([live('Completed'), live('NotRun')])).toBe(
      '1/2 completed, 1 not run'
    );
  });
});

describe('the grid rows of a mapped task', () => {
  it('puts the elements right under their task, in element order', () => {
    expect(
      groupElements([
        'make',
        'fetch',
        'total',
        'fetch[10]',
        'fetch[2]',
        'fetch[0]',
        'other[1]'
      ])
    ).toEqual([
      'make',
      'fetch',
      'fetch[0]',
      'fetch[2]',
      'fetch[10]',
      'total',
      'other[1]'
    ]);
  });
});
