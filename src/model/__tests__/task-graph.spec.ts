import { describe, expect, it } from 'vitest';

import { downstreamOf, possibleUpstream } from '../task-graph.js';

// extract → transform → load, and report after extract; audit on its own.
const tasks = [
  { name: 'extract', upstream: [] },
  { name: 'transform', upstream: ['extract'] },
  { name: 'load', upstream: ['transform'] },
  { name: 'report', upstream: ['extract'] },
  { name: 'audit', upstream: [] }
];

describe('task graph (issue 18, flaw 10)', () => {
  it('finds the tasks downstream of a task, directly or through others', () => {
    expect([...downstreamOf(tasks, 'extract')].sort()).toEqual([
      'load',
      'report',
      'transform'
    ]);
    expect([...downstreamOf(tasks, 'transform')]).toEqual(['load']);
    expect(downstreamOf(tasks, 'load').size).toBe(0);
  });

  it('offers as "Runs after" every other task but the downstream ones, which would make a cycle', () => {
    const names = (task: string) =>
      possibleUpstream(tasks, task).map(t => t.name);
    expect(names('extract')).toEqual(['audit']);
    expect(names('transform')).toEqual(['extract', 'report', 'audit']);
    expect(names('load')).toEqual(['extract', 'transform', 'report', 'audit']);
  });

  it('stops on a cycle already in the notebook', () => {
    const cyclic = [
      { name: 'a', upstream: ['b'] },
      { name: 'b', upstream: ['a'] }
    ];
    expect([...downstreamOf(cyclic, 'a')]).toEqual(['b']);
  });
});
