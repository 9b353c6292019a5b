import { describe, expect, it } from 'vitest';

import {
  applyTaskEvent,
  describeLiveState,
  describeSettings,
  fromServerTaskEvent,
  fromStoredTaskRun
} from '../chip-state.js';
import { DEFAULT_TASK_SETTINGS } from '../../flow/magic.js';

const at = '2026-12-07T10:00:00.000Z';
const t0 = Date.parse(at);

describe('the chip of a cached task', () => {
  it('says "Cached (from run …)" for a server hit, live and read back from the store', () => {
    const live = applyTaskEvent(
      null,
      fromServerTaskEvent(
        {
          taskName: 'extract',
          from: 'Running',
          to: 'Completed',
          attempt: 1,
          reason: 'Cached (from run 3f2a1b0c)'
        },
        at,
        0
      )
    );
    expect(live.cachedFrom).toBe('3f2a1b0c');
    expect(describeLiveState(live, t0)).toBe('Cached (from run 3f2a1b0c)');
    const stored = applyTaskEvent(
      null,
      fromStoredTaskRun(
        {
          taskName: 'extract',
          state: 'Completed',
          attemptCount: 1,
          startedAt: at,
          error: null,
          stateReason: 'Cached (from run 3f2a1b0c)',
          attempts: [{ startedAt: at, endedAt: at }]
        },
        at,
        0
      )
    );
    expect(describeLiveState(stored, t0)).toBe('Cached (from run 3f2a1b0c)');
  });

  it("says it for the run loop's own hit, and keeps a not-cached note for the tooltip", () => {
    const event = {
      type: 'task-state' as const,
      at: t0,
      task: 'extract',
      cellId: 'c',
      state: 'Completed' as const,
      previous: 'Running' as const,
      attempt: 1,
      maxAttempts: 1,
      retry: 0,
      maxRetries: 0
    };
    const hit = applyTaskEvent(null, {
      ...event,
      reason: 'Cached (from run 0123456789ab)',
      cachedFrom: '0123456789abcdef'
    });
    expect(describeLiveState(hit, t0)).toBe('Cached (from run 01234567)');
    const note =
      "Not cached: variable 'pending' cannot be serialised (TypeError: cannot pickle 'generator' object)";
    const miss = applyTaskEvent(
      { ...hit, state: 'Running', startedAt: t0 - 1500, since: t0 - 1500 },
      { ...event, reason: note }
    );
    expect(miss.cachedFrom).toBeUndefined();
    expect(miss.note).toBe(note);
    expect(describeLiveState(miss, t0)).toBe('Completed in 1.5 s');
  });

  it('shows the cache duration among the settings', () => {
    expect(
      describeSettings({ ...DEFAULT_TASK_SETTINGS, retries: 1, cacheFor: 3600 })
    ).toBe('retries 1 · cached 1h');
  });
});
