import { describe, expect, it } from 'vitest';

import { TaskTracker } from '../task-tracker.js';

function gate() {
  let open!: () => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

describe('TaskTracker', () => {
  it('stays busy until every overlapping task has settled', async () => {
    const tasks = new TaskTracker<'load' | 'deploy'>();
    const load = gate();
    const deploy = gate();
    const loading = tasks.run('load', () => load.promise);
    const deploying = tasks.run('deploy', () => deploy.promise);
    expect(tasks.busy).toBe(true);
    expect(tasks.isBusy('load')).toBe(true);
    // The load ends first: the deploy still runs, so the model is still busy.
    load.open();
    await loading;
    expect(tasks.busy).toBe(true);
    expect(tasks.isBusy('load')).toBe(false);
    expect(tasks.isBusy('deploy')).toBe(true);
    deploy.fail(new Error('refused'));
    await expect(deploying).rejects.toThrow('refused');
    expect(tasks.busy).toBe(false);
  });

  it('counts two tasks of one kind apart', async () => {
    const tasks = new TaskTracker();
    const first = gate();
    const second = gate();
    const a = tasks.run('save', () => first.promise);
    const b = tasks.run('save', () => second.promise);
    first.open();
    await a;
    expect(tasks.isBusy('save')).toBe(true);
    second.open();
    await b;
    expect(tasks.busy).toBe(false);
  });
});
