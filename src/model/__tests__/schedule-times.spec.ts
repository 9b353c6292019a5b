import { describe, expect, it } from 'vitest';

import type { ISchedule } from '../../api/types.js';
import { upcomingRuns } from '../schedule-times.js';

const tokyo: ISchedule = {
  id: 's1',
  kind: 'interval',
  every: 10,
  timezone: 'Asia/Tokyo',
  paused: false,
  missedPolicy: 'skip',
  description: 'every 10 seconds',
  // As the server listed them when the panel loaded the schedules.
  nextRuns: [
    '2026-12-07T10:00:10.000Z',
    '2026-12-07T10:00:20.000Z',
    '2026-12-07T10:00:30.000Z'
  ]
};

describe('a saved schedule’s next runs (issue 18, flaw 10)', () => {
  it('are computed from now, never listing past times, on the schedule’s own zone', () => {
    const later = upcomingRuns(tokyo, new Date('2026-12-07T10:00:25Z'), 3);
    expect(later.timezone).toBe('Asia/Tokyo');
    expect(later.runs.map(r => r.at)).toEqual([
      '2026-12-07T10:00:30Z',
      '2026-12-07T10:00:40Z',
      '2026-12-07T10:00:50Z'
    ]);
    expect(later.runs[0].local).toBe('2026-12-07T19:00:30+09:00');
  });

  it('falls back on the server’s list, minus the past, when the schedule cannot be read here', () => {
    const odd = { ...tokyo, every: undefined, expression: undefined };
    const runs = upcomingRuns(odd, new Date('2026-12-07T10:00:15Z'), 3).runs;
    expect(runs.map(r => r.local)).toEqual([
      '2026-12-07T19:00:20+09:00',
      '2026-12-07T19:00:30+09:00'
    ]);
  });

  it('lists none while paused', () => {
    expect(
      upcomingRuns({ ...tokyo, paused: true }, new Date(), 3).runs
    ).toEqual([]);
  });
});
