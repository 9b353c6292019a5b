import { describe, expect, it } from 'vitest';

import {
  nextRuns,
  runsBetween,
  validateSchedule,
  type ScheduleSpec
} from '../schedule.js';

/** A schedule through validateSchedule, as every caller gets one. */
function schedule(input: Record<string, unknown>): ScheduleSpec {
  const result = validateSchedule(input);
  if (!result.ok) {
    throw new Error(JSON.stringify(result.problems));
  }
  return result.schedule;
}

const iso = (dates: Date[]) =>
  dates.map(d => d.toISOString().replace('.000Z', 'Z'));

function next(
  input: Record<string, unknown>,
  after: string,
  count = 3
): string[] {
  return iso(nextRuns(schedule(input), { after: new Date(after), count }));
}

describe('nextRuns: intervals', () => {
  it('aligns to the Unix epoch without an anchor, so every server agrees', () => {
    expect(
      next({ kind: 'interval', every: 600 }, '2026-01-01T10:03:17Z')
    ).toEqual([
      '2026-01-01T10:10:00Z',
      '2026-01-01T10:20:00Z',
      '2026-01-01T10:30:00Z'
    ]);
    expect(
      next({ kind: 'interval', every: 7 }, '1970-01-01T00:00:00Z', 2)
    ).toEqual(['1970-01-01T00:00:07Z', '1970-01-01T00:00:14Z']);
  });

  it('runs at anchor + k × every, before or after the anchor', () => {
    const every10from5 = {
      kind: 'interval',
      every: '10m',
      anchor: '2026-06-01T00:05:00Z'
    };
    expect(next(every10from5, '2026-01-01T10:03:17Z')).toEqual([
      '2026-01-01T10:05:00Z',
      '2026-01-01T10:15:00Z',
      '2026-01-01T10:25:00Z'
    ]);
    expect(
      next(
        { kind: 'interval', every: 7, anchor: '2026-01-01T00:00:03Z' },
        '2026-01-01T00:00:10Z'
      )
    ).toEqual([
      '2026-01-01T00:00:17Z',
      '2026-01-01T00:00:24Z',
      '2026-01-01T00:00:31Z'
    ]);
  });

  it('is strictly after `after`, even when `after` is a run time', () => {
    expect(
      next({ kind: 'interval', every: 60 }, '2026-01-01T00:01:00Z', 1)
    ).toEqual(['2026-01-01T00:02:00Z']);
    expect(
      next({ kind: 'interval', every: 60 }, '2026-01-01T00:00:59.999Z', 1)
    ).toEqual(['2026-01-01T00:01:00Z']);
  });

  it('keeps elapsed time across DST: a 1-hour interval runs every 3600 s through the change', () => {
    expect(
      next(
        { kind: 'interval', every: 3600, timezone: 'Europe/Berlin' },
        '2026-03-29T00:30:00Z'
      )
    ).toEqual([
      '2026-03-29T01:00:00Z',
      '2026-03-29T02:00:00Z',
      '2026-03-29T03:00:00Z'
    ]);
  });

  it('respects start (inclusive) and end (inclusive)', () => {
    const bounded = {
      kind: 'interval',
      every: '1h',
      start: '2026-01-01T05:00:00Z',
      end: '2026-01-01T07:00:00Z'
    };
    expect(next(bounded, '2025-12-01T00:00:00Z', 5)).toEqual([
      '2026-01-01T05:00:00Z',
      '2026-01-01T06:00:00Z',
      '2026-01-01T07:00:00Z'
    ]);
    expect(next(bounded, '2026-01-01T07:00:00Z', 5)).toEqual([]);
    expect(
      next(
        { kind: 'interval', every: '1h', start: '2026-01-01T05:30:00Z' },
        '2025-01-01T00:00:00Z',
        1
      )
    ).toEqual(['2026-01-01T06:00:00Z']);
  });

  it('answers count 0 with nothing', () => {
    expect(
      next({ kind: 'interval', every: 60 }, '2026-01-01T00:00:00Z', 0)
    ).toEqual([]);
  });
});

describe('nextRuns: cron in time zones', () => {
  const weekdays6 = (timezone: string) => ({
    kind: 'cron',
    expression: '0 6 * * 1-5',
    timezone
  });

  it.each([
    [
      'UTC',
      ['2026-01-02T06:00:00Z', '2026-01-05T06:00:00Z', '2026-01-06T06:00:00Z']
    ],
    [
      'Europe/Berlin',
      ['2026-01-02T05:00:00Z', '2026-01-05T05:00:00Z', '2026-01-06T05:00:00Z']
    ],
    [
      'America/New_York',
      ['2026-01-02T11:00:00Z', '2026-01-05T11:00:00Z', '2026-01-06T11:00:00Z']
    ],
    [
      'Asia/Kolkata',
      ['2026-01-02T00:30:00Z', '2026-01-05T00:30:00Z', '2026-01-06T00:30:00Z']
    ]
  ])('06:00 on weekdays in %s', (zone, expected) => {
    // 2026-01-01 is a Thursday; from noon UTC on, the next weekday 06:00 is Friday the 2nd.
    expect(next(weekdays6(zone), '2026-01-01T12:00:00Z')).toEqual(expected);
  });

  it('reads a 6-field expression with seconds first', () => {
    expect(
      next(
        { kind: 'cron', expression: '*/20 * * * * *', timezone: 'UTC' },
        '2026-01-01T00:00:30.500Z'
      )
    ).toEqual([
      '2026-01-01T00:00:40Z',
      '2026-01-01T00:01:00Z',
      '2026-01-01T00:01:20Z'
    ]);
    expect(
      next(
        { kind: 'cron', expression: '15 30 9 * * *', timezone: 'Asia/Kolkata' },
        '2026-01-01T00:00:00Z',
        1
      )
    ).toEqual(['2026-01-01T04:00:15Z']);
  });

  it('respects start and end', () => {
    const bounded = {
      kind: 'cron',
      expression: '0 12 * * *',
      timezone: 'UTC',
      start: '2026-02-03T12:00:00Z',
      end: '2026-02-05T11:59:59Z'
    };
    expect(next(bounded, '2026-01-01T00:00:00Z', 5)).toEqual([
      '2026-02-03T12:00:00Z',
      '2026-02-04T12:00:00Z'
    ]);
  });
});

describe('nextRuns: DST', () => {
  it('Berlin spring forward: 02:30 does not exist on 2026-03-29 and runs at 03:30 CEST', () => {
    expect(
      next(
        { kind: 'cron', expression: '30 2 * * *', timezone: 'Europe/Berlin' },
        '2026-03-28T00:00:00Z'
      )
    ).toEqual([
      '2026-03-28T01:30:00Z', // 02:30 CET
      '2026-03-29T01:30:00Z', // 03:30 CEST
      '2026-03-30T00:30:00Z' // 02:30 CEST
    ]);
  });

  it('Berlin spring forward: an every-30-minutes schedule skips the missing hour without doubling 03:00', () => {
    expect(
      next(
        { kind: 'cron', expression: '*/30 * * * *', timezone: 'Europe/Berlin' },
        '2026-03-29T00:00:00Z',
        4
      )
    ).toEqual([
      '2026-03-29T00:30:00Z',
      '2026-03-29T01:00:00Z',
      '2026-03-29T01:30:00Z',
      '2026-03-29T02:00:00Z'
    ]);
  });

  it('Berlin fall back: a daily 02:30 runs once, at the first 02:30 (CEST)', () => {
    const daily = {
      kind: 'cron',
      expression: '30 2 * * *',
      timezone: 'Europe/Berlin'
    };
    expect(next(daily, '2026-10-24T12:00:00Z')).toEqual([
      '2026-10-25T00:30:00Z', // 02:30 CEST
      '2026-10-26T01:30:00Z', // 02:30 CET the next day: no 02:30 CET on the 25th
      '2026-10-27T01:30:00Z'
    ]);
    // Asked from between the two 02:30s: the second one is not a run.
    expect(next(daily, '2026-10-25T00:45:00Z', 1)).toEqual([
      '2026-10-26T01:30:00Z'
    ]);
  });

  it('Berlin fall back: a fixed-hour schedule with a per-minute field also runs only once', () => {
    expect(
      next(
        { kind: 'cron', expression: '*/30 2 * * *', timezone: 'Europe/Berlin' },
        '2026-10-24T12:00:00Z',
        3
      )
    ).toEqual([
      '2026-10-25T00:00:00Z',
      '2026-10-25T00:30:00Z',
      '2026-10-26T01:00:00Z'
    ]);
  });

  it('Berlin fall back: an hourly schedule follows elapsed time through the repeated hour', () => {
    expect(
      next(
        { kind: 'cron', expression: '0 * * * *', timezone: 'Europe/Berlin' },
        '2026-10-24T23:30:00Z',
        4
      )
    ).toEqual([
      '2026-10-25T00:00:00Z',
      '2026-10-25T01:00:00Z',
      '2026-10-25T02:00:00Z',
      '2026-10-25T03:00:00Z'
    ]);
  });

  it('New York spring forward (2026-03-08): 02:30 runs at 03:30 EDT', () => {
    expect(
      next(
        {
          kind: 'cron',
          expression: '30 2 * * *',
          timezone: 'America/New_York'
        },
        '2026-03-07T00:00:00Z'
      )
    ).toEqual([
      '2026-03-07T07:30:00Z',
      '2026-03-08T07:30:00Z',
      '2026-03-09T06:30:00Z'
    ]);
  });

  it('New York fall back (2026-11-01): a daily 01:30 runs once, at 01:30 EDT', () => {
    const daily = {
      kind: 'cron',
      expression: '30 1 * * *',
      timezone: 'America/New_York'
    };
    expect(next(daily, '2026-10-31T12:00:00Z')).toEqual([
      '2026-11-01T05:30:00Z', // 01:30 EDT
      '2026-11-02T06:30:00Z', // 01:30 EST the next day
      '2026-11-03T06:30:00Z'
    ]);
    expect(next(daily, '2026-11-01T06:00:00Z', 1)).toEqual([
      '2026-11-02T06:30:00Z'
    ]);
  });
});

describe('nextRuns: DST beyond whole hours and 02:00', () => {
  // cron-parser's own zone handling skips this day and then throws "loop limit exceeded" here.
  it('Lord Howe (30-minute change, 2026-10-04): 02:15 runs at 02:45', () => {
    expect(
      next(
        {
          kind: 'cron',
          expression: '15 2 * * *',
          timezone: 'Australia/Lord_Howe'
        },
        '2026-10-03T00:00:00Z',
        2
      )
    ).toEqual([
      '2026-10-03T15:45:00Z', // 02:45 +11:00 on the 4th
      '2026-10-04T15:15:00Z' // 02:15 +11:00 on the 5th
    ]);
  });

  it('Lord Howe fall back (2026-04-05): a daily 01:15 runs once a day, without stalling', () => {
    expect(
      next(
        {
          kind: 'cron',
          expression: '15 1 * * *',
          timezone: 'Australia/Lord_Howe'
        },
        '2026-04-04T00:00:00Z'
      )
    ).toEqual([
      '2026-04-04T14:15:00Z', // 01:15 +11:00
      '2026-04-05T14:45:00Z', // 01:15 +10:30
      '2026-04-06T14:45:00Z'
    ]);
  });

  it('Santiago (clocks go from 00:00 to 01:00 on 2026-09-06): midnight runs at 01:00', () => {
    expect(
      next(
        { kind: 'cron', expression: '0 0 * * *', timezone: 'America/Santiago' },
        '2026-09-05T12:00:00Z',
        2
      )
    ).toEqual(['2026-09-06T04:00:00Z', '2026-09-07T03:00:00Z']);
  });
});

describe('runsBetween: missed runs', () => {
  it('lists runs in (from, to], ascending', () => {
    const s = schedule({ kind: 'interval', every: 600 });
    expect(
      iso(
        runsBetween(
          s,
          new Date('2026-01-01T00:00:00Z'),
          new Date('2026-01-01T00:30:00Z'),
          10
        )
      )
    ).toEqual([
      '2026-01-01T00:10:00Z',
      '2026-01-01T00:20:00Z',
      '2026-01-01T00:30:00Z'
    ]);
  });

  it('keeps the latest `cap` runs when more were missed', () => {
    const s = schedule({ kind: 'interval', every: 1 });
    expect(
      iso(
        runsBetween(
          s,
          new Date('2026-01-01T00:00:00Z'),
          new Date('2026-01-08T00:00:00Z'),
          2
        )
      )
    ).toEqual(['2026-01-07T23:59:59Z', '2026-01-08T00:00:00Z']);
    const cron = schedule({
      kind: 'cron',
      expression: '* * * * * *',
      timezone: 'UTC'
    });
    expect(
      iso(
        runsBetween(
          cron,
          new Date('2026-01-01T00:00:00Z'),
          new Date('2026-01-08T00:00:00Z'),
          1
        )
      )
    ).toEqual(['2026-01-08T00:00:00Z']);
  });

  it('applies the DST rules of nextRuns across both Berlin changes', () => {
    const daily = schedule({
      kind: 'cron',
      expression: '30 2 * * *',
      timezone: 'Europe/Berlin'
    });
    expect(
      iso(
        runsBetween(
          daily,
          new Date('2026-03-28T00:00:00Z'),
          new Date('2026-03-30T12:00:00Z'),
          10
        )
      )
    ).toEqual([
      '2026-03-28T01:30:00Z',
      '2026-03-29T01:30:00Z',
      '2026-03-30T00:30:00Z'
    ]);
    expect(
      iso(
        runsBetween(
          daily,
          new Date('2026-10-24T00:00:00Z'),
          new Date('2026-10-26T12:00:00Z'),
          10
        )
      )
    ).toEqual([
      '2026-10-24T00:30:00Z',
      '2026-10-25T00:30:00Z',
      '2026-10-26T01:30:00Z'
    ]);
    // Capped windows ending right after each change agree with the uncapped answer.
    expect(
      iso(
        runsBetween(
          daily,
          new Date('2026-10-01T00:00:00Z'),
          new Date('2026-10-26T12:00:00Z'),
          2
        )
      )
    ).toEqual(['2026-10-25T00:30:00Z', '2026-10-26T01:30:00Z']);
    expect(
      iso(
        runsBetween(
          daily,
          new Date('2026-03-01T00:00:00Z'),
          new Date('2026-03-29T12:00:00Z'),
          2
        )
      )
    ).toEqual(['2026-03-28T01:30:00Z', '2026-03-29T01:30:00Z']);
  });

  it('matches nextRuns over a year of a DST-crossing cron', () => {
    const s = schedule({
      kind: 'cron',
      expression: '0,30 1-3 * * *',
      timezone: 'America/New_York'
    });
    const from = new Date('2026-01-01T00:00:00Z');
    const to = new Date('2027-01-01T00:00:00Z');
    const forward = nextRuns(s, { after: from, count: 2300 }).filter(
      d => d <= to
    );
    // 6 a day; on 2026-03-08 02:00 and 02:30 move onto 03:00 and 03:30, which run once each;
    // on 2026-11-01 the repeated 01:00 and 01:30 run once each.
    expect(forward.length).toBe(365 * 6 - 2);
    const onDay = (day: string) => iso(forward).filter(t => t.startsWith(day));
    expect(onDay('2026-03-08')).toEqual([
      '2026-03-08T06:00:00Z',
      '2026-03-08T06:30:00Z',
      '2026-03-08T07:00:00Z',
      '2026-03-08T07:30:00Z'
    ]);
    expect(onDay('2026-11-01')).toEqual([
      '2026-11-01T05:00:00Z', // 01:00 EDT
      '2026-11-01T05:30:00Z', // 01:30 EDT
      '2026-11-01T07:00:00Z', // 02:00 EST
      '2026-11-01T07:30:00Z',
      '2026-11-01T08:00:00Z',
      '2026-11-01T08:30:00Z'
    ]);
    expect(iso(runsBetween(s, from, to, 100000))).toEqual(iso(forward));
    expect(iso(runsBetween(s, from, to, 7))).toEqual(iso(forward.slice(-7)));
  });

  it('respects start and end, and gives nothing for an empty window or cap 0', () => {
    const s = schedule({
      kind: 'cron',
      expression: '0 * * * *',
      timezone: 'UTC',
      start: '2026-01-01T03:00:00Z',
      end: '2026-01-01T05:00:00Z'
    });
    const all = (cap: number) =>
      iso(
        runsBetween(
          s,
          new Date('2026-01-01T00:00:00Z'),
          new Date('2026-01-02T00:00:00Z'),
          cap
        )
      );
    expect(all(10)).toEqual([
      '2026-01-01T03:00:00Z',
      '2026-01-01T04:00:00Z',
      '2026-01-01T05:00:00Z'
    ]);
    expect(all(0)).toEqual([]);
    expect(
      runsBetween(
        s,
        new Date('2026-01-01T06:00:00Z'),
        new Date('2026-01-01T05:00:00Z'),
        5
      )
    ).toEqual([]);
  });
});
