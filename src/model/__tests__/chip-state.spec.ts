import { describe, expect, it } from 'vitest';

import {
  applyTaskEvent,
  describeLiveState,
  fromServerTaskEvent,
  fromStoredTaskRun
} from '../chip-state.js';

const at = '2026-12-07T10:00:00.000Z';
const t0 = Date.parse(at);

describe('chip states (issue 18, flaw 10)', () => {
  it("counts down to a server retry's due time, then says soon", () => {
    const live = applyTaskEvent(
      null,
      fromServerTaskEvent(
        {
          taskName: 'transform',
          from: 'Running',
          to: 'AwaitingRetry',
          attempt: 1,
          error: 'RuntimeError: flaky',
          retryAt: '2026-12-07T10:00:05.000Z'
        },
        at,
        2
      )
    );
    expect(live.retryAt).toBe(t0 + 5000);
    expect(describeLiveState(live, t0)).toBe('Retrying 1/2 in 5 s');
    expect(describeLiveState(live, t0 + 1200)).toBe('Retrying 1/2 in 4 s');
    expect(describeLiveState(live, t0 + 4900)).toBe('Retrying 1/2 in 1 s');
    expect(describeLiveState(live, t0 + 5000)).toBe('Retrying 1/2 soon');
    // An event without a due time (an older server) still says soon.
    const older = applyTaskEvent(
      null,
      fromServerTaskEvent(
        { taskName: 'transform', to: 'AwaitingRetry', attempt: 1 },
        at,
        2
      )
    );
    expect(describeLiveState(older, t0)).toBe('Retrying 1/2 soon');
  });

  it('counts down to the run loop’s own retryAt (Run here)', () => {
    const live = applyTaskEvent(null, {
      type: 'task-state',
      at: t0,
      task: 'transform',
      cellId: 'c',
      state: 'AwaitingRetry',
      previous: 'Running',
      attempt: 1,
      maxAttempts: 3,
      retry: 0,
      maxRetries: 2,
      retryAt: t0 + 65_000
    });
    expect(describeLiveState(live, t0)).toBe('Retrying 1/2 in 1 min 5 s');
    // The next attempt forgets the due time.
    const retrying = applyTaskEvent(live, {
      type: 'task-state',
      at: t0 + 65_000,
      task: 'transform',
      cellId: 'c',
      state: 'Retrying',
      previous: 'AwaitingRetry',
      attempt: 2,
      maxAttempts: 3,
      retry: 1,
      maxRetries: 2
    });
    expect(retrying.retryAt).toBeUndefined();
  });

  it('shows a stored run as its live events showed it: a task skipped for its upstream is Not run after a reload too', () => {
    const reason = "upstream task 'extract' is Failed";
    const live = fromServerTaskEvent(
      { taskName: 'load', from: 'Pending', to: 'Cancelled', reason },
      at,
      0
    );
    const stored = fromStoredTaskRun(
      {
        taskName: 'load',
        state: 'Cancelled',
        attemptCount: 0,
        stateReason: reason,
        attempts: []
      },
      at,
      0
    );
    expect(live.state).toBe('NotRun');
    expect(stored.state).toBe(live.state);
    expect(describeLiveState(applyTaskEvent(null, stored), t0)).toBe('Not run');
    // A task the user cancelled stays Cancelled, live and stored.
    const cancelled = fromStoredTaskRun(
      {
        taskName: 'load',
        state: 'Cancelled',
        attemptCount: 1,
        stateReason: 'the run was cancelled',
        attempts: [{ startedAt: at, endedAt: at }]
      },
      at,
      0
    );
    expect(cancelled.state).toBe('Cancelled');
  });
});
