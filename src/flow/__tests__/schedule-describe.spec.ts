import { describe, expect, it } from 'vitest';

import {
  describeRunTime,
  describeSchedule,
  previewSchedule,
  validateSchedule,
  type ScheduleSpec
} from '../schedule.js';

function schedule(input: Record<string, unknown>): ScheduleSpec {
  const result = validateSchedule(input);
  if (!result.ok) {
    throw new Error(JSON.stringify(result.problems));
  }
  return result.schedule;
}

const describeInput = (input: Record<string, unknown>) =>
  describeSchedule(schedule(input));

describe('describeSchedule: intervals', () => {
  it.each([
    [{ every: 1 }, 'every second'],
    [{ every: 10 }, 'every 10 seconds'],
    [{ every: 90 }, 'every 90 seconds'],
    [{ every: 60 }, 'every minute'],
    [{ every: '5m' }, 'every 5 minutes'],
    [{ every: 5400 }, 'every 90 minutes'],
    [{ every: '1h' }, 'every hour'],
    [{ every: '2h' }, 'every 2 hours'],
    [{ every: '1d' }, 'every day'],
    [{ every: '3d' }, 'every 3 days'],
    [
      { every: '10m', anchor: '2026-01-01T00:05:00Z' },
      'every 10 minutes from :05'
    ],
    [
      { every: '10m', anchor: '2026-01-01T07:25:30Z' },
      'every 10 minutes from :05:30'
    ],
    // An anchor on the grid the epoch gives says nothing new.
    [{ every: '10m', anchor: '2026-01-01T07:20:00Z' }, 'every 10 minutes'],
    [
      { every: '2h', anchor: '2026-01-01T01:30:00Z' },
      'every 2 hours from 01:30'
    ],
    [{ every: '1d', anchor: '2026-01-01T09:00:00Z' }, 'every day at 09:00'],
    [
      { every: '7m', anchor: '2026-01-01T00:05:00Z' },
      'every 7 minutes from 2026-01-01T00:05:00+00:00'
    ]
  ])('%j → %s', (fields, text) => {
    expect(describeInput({ kind: 'interval', ...fields })).toBe(text);
  });

  it('reads the phase on the schedule zone wall clock and names the zone', () => {
    // 00:05Z is 05:35 in Kolkata (+05:30): a 10-minute grid there is :05, :15, … again, but
    // the daily one runs at 05:35.
    expect(
      describeInput({
        kind: 'interval',
        every: '1d',
        anchor: '2026-01-01T00:05:00Z',
        timezone: 'Asia/Kolkata'
      })
    ).toBe('every day at 05:35 (Asia/Kolkata)');
    expect(
      describeInput({
        kind: 'interval',
        every: '2h',
        anchor: '2026-01-01T09:00',
        timezone: 'Europe/Berlin'
      })
    ).toBe('every 2 hours from 01:00 (Europe/Berlin)');
  });

  it('adds start, end and paused', () => {
    expect(
      describeInput({
        kind: 'interval',
        every: 60,
        start: '2026-04-01T09:00',
        end: '2026-04-02T09:00',
        timezone: 'Europe/Berlin',
        paused: true
      })
    ).toBe(
      'every minute, starting 2026-04-01T09:00:00+02:00, until 2026-04-02T09:00:00+02:00 (paused)'
    );
  });
});

describe('describeSchedule: cron', () => {
  it.each([
    [
      '0 6 * * 1-5',
      'Europe/Berlin',
      'At 06:00, Monday through Friday (Europe/Berlin)'
    ],
    ['30 2 * * *', 'America/New_York', 'At 02:30 (America/New_York)'],
    ['*/15 * * * *', 'UTC', 'Every 15 minutes (UTC)'],
    ['0 30 9 * * *', 'Asia/Kolkata', 'At 09:30 (Asia/Kolkata)'],
    ['0 18 * * 5', 'UTC', 'At 18:00, only on Friday (UTC)'],
    ['@daily', 'UTC', 'At 00:00 (UTC)']
  ])('%s in %s → %s', (expression, timezone, text) => {
    expect(describeInput({ kind: 'cron', expression, timezone })).toBe(text);
  });
});

describe('describeRunTime', () => {
  it('formats ISO 8601 with the offset in force', () => {
    expect(
      describeRunTime(new Date('2026-03-29T01:30:00Z'), 'Europe/Berlin')
    ).toEqual({
      iso: '2026-03-29T03:30:00+02:00',
      utc: '2026-03-29T01:30:00Z',
      offset: '+02:00'
    });
    expect(
      describeRunTime(new Date('2026-01-15T12:00:00.250Z'), 'Asia/Kolkata').iso
    ).toBe('2026-01-15T17:30:00.250+05:30');
    expect(
      describeRunTime(new Date('2026-01-15T12:00:00Z'), 'America/New_York').iso
    ).toBe('2026-01-15T07:00:00-05:00');
    expect(describeRunTime(new Date('2026-01-15T00:00:00Z'), 'UTC').iso).toBe(
      '2026-01-15T00:00:00+00:00'
    );
  });

  it('flags a wall-clock time that occurs twice, saying which one', () => {
    expect(
      describeRunTime(new Date('2026-10-25T00:30:00Z'), 'Europe/Berlin')
    ).toEqual({
      iso: '2026-10-25T02:30:00+02:00',
      utc: '2026-10-25T00:30:00Z',
      offset: '+02:00',
      note: '02:30 occurs twice on 2026-10-25 in Europe/Berlin (clocks go back); this is the first, at +02:00'
    });
    expect(
      describeRunTime(new Date('2026-11-01T06:30:00Z'), 'America/New_York').note
    ).toBe(
      '01:30 occurs twice on 2026-11-01 in America/New_York (clocks go back); this is the second, at -05:00'
    );
    expect(
      describeRunTime(new Date('2026-10-25T02:30:00Z'), 'Europe/Berlin').note
    ).toBeUndefined();
  });
});

describe('previewSchedule', () => {
  it('shows the spring-forward shift with a note, in the schedule and viewer zones', () => {
    const preview = previewSchedule(
      schedule({
        kind: 'cron',
        expression: '30 2 * * *',
        timezone: 'Europe/Berlin'
      }),
      {
        from: new Date('2026-03-28T12:00:00Z'),
        count: 2,
        viewerZone: 'America/New_York'
      }
    );
    expect(preview).toEqual({
      description: 'At 02:30 (Europe/Berlin)',
      timezone: 'Europe/Berlin',
      viewerZone: 'America/New_York',
      runs: [
        {
          at: '2026-03-29T01:30:00Z',
          local: '2026-03-29T03:30:00+02:00',
          viewer: '2026-03-28T21:30:00-04:00',
          note: '02:30 does not exist on 2026-03-29 in Europe/Berlin (clocks go forward); runs at 03:30'
        },
        {
          at: '2026-03-30T00:30:00Z',
          local: '2026-03-30T02:30:00+02:00',
          viewer: '2026-03-29T20:30:00-04:00'
        }
      ]
    });
  });

  it('notes the New York spring gap with seconds for a 6-field expression', () => {
    const preview = previewSchedule(
      schedule({
        kind: 'cron',
        expression: '15 30 2 * * *',
        timezone: 'America/New_York'
      }),
      { from: new Date('2026-03-08T00:00:00Z'), count: 1, viewerZone: 'UTC' }
    );
    expect(preview.runs[0]).toEqual({
      at: '2026-03-08T07:30:15Z',
      local: '2026-03-08T03:30:15-04:00',
      viewer: '2026-03-08T07:30:15+00:00',
      note: '02:30:15 does not exist on 2026-03-08 in America/New_York (clocks go forward); runs at 03:30:15'
    });
  });

  it('notes the repeated hour on fall back', () => {
    const preview = previewSchedule(
      schedule({
        kind: 'cron',
        expression: '0 * * * *',
        timezone: 'Europe/Berlin'
      }),
      {
        from: new Date('2026-10-24T23:30:00Z'),
        count: 3,
        viewerZone: 'UTC'
      }
    );
    expect(preview.runs.map(r => [r.local, r.note])).toEqual([
      [
        '2026-10-25T02:00:00+02:00',
        '02:00 occurs twice on 2026-10-25 in Europe/Berlin (clocks go back); this is the first, at +02:00'
      ],
      [
        '2026-10-25T02:00:00+01:00',
        '02:00 occurs twice on 2026-10-25 in Europe/Berlin (clocks go back); this is the second, at +01:00'
      ],
      ['2026-10-25T03:00:00+01:00', undefined]
    ]);
  });

  it('shows an interval without a zone in UTC, and refuses an unknown viewer zone by name', () => {
    const s = schedule({
      kind: 'interval',
      every: '10m',
      anchor: '2026-01-01T00:05:00Z'
    });
    const preview = previewSchedule(s, {
      from: new Date('2026-01-01T10:00:00Z'),
      count: 2,
      viewerZone: 'Asia/Kolkata'
    });
    expect(preview).toEqual({
      description: 'every 10 minutes from :05',
      timezone: 'UTC',
      viewerZone: 'Asia/Kolkata',
      runs: [
        {
          at: '2026-01-01T10:05:00Z',
          local: '2026-01-01T10:05:00+00:00',
          viewer: '2026-01-01T15:35:00+05:30'
        },
        {
          at: '2026-01-01T10:15:00Z',
          local: '2026-01-01T10:15:00+00:00',
          viewer: '2026-01-01T15:45:00+05:30'
        }
      ]
    });
    expect(() => previewSchedule(s, { viewerZone: 'Nowhere/Land' })).toThrow(
      "unknown viewer time zone 'Nowhere/Land'"
    );
  });
});
