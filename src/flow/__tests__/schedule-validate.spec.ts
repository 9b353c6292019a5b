import { describe, expect, it } from 'vitest';

import {
  parseEvery,
  validateSchedule,
  type ScheduleProblem
} from '../schedule.js';

/** The problems of an input that must be refused. */
function problems(input: unknown): ScheduleProblem[] {
  const result = validateSchedule(input);
  if (result.ok) {
    throw new Error(
      `expected problems, got a valid schedule: ${JSON.stringify(result.schedule)}`
    );
  }
  return result.problems;
}

function cronProblem(expression: string): ScheduleProblem[] {
  return problems({ kind: 'cron', expression, timezone: 'UTC' });
}

describe('validateSchedule: cron expressions', () => {
  it.each([
    ['61 * * * *', "minute field '61' is out of range 0-59"],
    ['0 24 * * *', "hour field '24' is out of range 0-23"],
    ['0 0 32 * *', "day-of-month field '32' is out of range 1-31"],
    ['0 0 0 * *', "day-of-month field '0' is out of range 1-31"],
    ['0 0 * 13 *', "month field '13' is out of range 1-12"],
    ['0 0 * * 8', "day-of-week field '8' is out of range 0-7"],
    ['60 0 0 * * *', "second field '60' is out of range 0-59"],
    ['0 61 0 * * *', "minute field '61' is out of range 0-59"],
    ['5,61 * * * *', "minute field '5,61': 61 is out of range 0-59"],
    ['abc * * * *', "minute field 'abc' has invalid characters"],
    ['0 5-2 * * *', "hour field '5-2': range 5-2 goes backwards (5 > 2)"],
    ['*/0 * * * *', "minute field '*/0' has a step of 0"],
    ['0 0 30 2 *', "day-of-month field '30' never occurs in month field '2'"]
  ])('%s → %s', (expression, message) => {
    expect(cronProblem(expression)).toEqual([{ field: 'expression', message }]);
  });

  it('counts the fields itself: 4 and 7 fields are refused (cron-parser accepts 4)', () => {
    expect(cronProblem('* * * *')[0]).toEqual({
      field: 'expression',
      message:
        "'* * * *' has 4 fields; a cron expression has 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)"
    });
    expect(cronProblem('* * * * * * *')[0].message).toMatch(
      /^'\* \* \* \* \* \* \*' has 7 fields;/
    );
  });

  it('refuses an empty or non-string expression and unknown nicknames', () => {
    expect(cronProblem('  ')[0]).toEqual({
      field: 'expression',
      message: 'a cron expression is required (e.g. "0 6 * * 1-5")'
    });
    expect(
      problems({ kind: 'cron', expression: 5, timezone: 'UTC' })[0]
    ).toEqual({
      field: 'expression',
      message: 'expression must be a cron expression string, got 5'
    });
    expect(cronProblem('@reboot')[0].message).toBe(
      "'@reboot' is not a cron nickname (use @yearly, @monthly, @weekly, @daily or @hourly)"
    );
  });

  it('accepts 5 and 6 fields, names, L, # and nicknames', () => {
    for (const expression of [
      '0 6 * * MON-FRI',
      '*/15 * * * * *',
      '0 0 L * *',
      '0 0 ? * 1#2',
      '@daily',
      '0 0 * * 7'
    ]) {
      const result = validateSchedule({
        kind: 'cron',
        expression,
        timezone: 'UTC'
      });
      expect(result.ok, expression).toBe(true);
    }
  });
});

describe('validateSchedule: time zones', () => {
  it('names an unknown zone (cron-parser would say "unhandled timestamp")', () => {
    expect(
      problems({ kind: 'cron', expression: '0 6 * * *', timezone: 'Mars/Base' })
    ).toEqual([
      {
        field: 'timezone',
        message:
          "unknown time zone 'Mars/Base' (use an IANA name such as Europe/Berlin)"
      }
    ]);
    expect(
      problems({ kind: 'interval', every: 60, timezone: '+01:00' })[0].field
    ).toBe('timezone');
    expect(
      problems({ kind: 'cron', expression: '0 6 * * *', timezone: 7 })[0]
        .message
    ).toBe('unknown time zone 7 (use an IANA name such as Europe/Berlin)');
  });

  it('canonicalises the zone and defaults a cron to the user zone', () => {
    const result = validateSchedule({
      kind: 'cron',
      expression: '0 6 * * *',
      timezone: 'europe/berlin'
    });
    expect(result).toEqual({
      ok: true,
      schedule: {
        kind: 'cron',
        expression: '0 6 * * *',
        timezone: 'Europe/Berlin'
      }
    });
    // ICU would call it Asia/Calcutta; the current IANA name is kept.
    const kolkata = validateSchedule({
      kind: 'cron',
      expression: '0 6 * * *',
      timezone: 'Asia/Kolkata'
    });
    expect(kolkata.ok && kolkata.schedule.timezone).toBe('Asia/Kolkata');
    const utc = validateSchedule({
      kind: 'interval',
      every: 60,
      timezone: 'utc'
    });
    expect(
      utc.ok && utc.schedule.kind === 'interval' && utc.schedule.timezone
    ).toBe('UTC');
    const defaulted = validateSchedule({
      kind: 'cron',
      expression: '0 6 * * *'
    });
    expect(defaulted.ok && defaulted.schedule.timezone).toBe(
      Intl.DateTimeFormat().resolvedOptions().timeZone
    );
  });
});

describe('validateSchedule: intervals', () => {
  it.each([
    [0, 'every must be a whole number of seconds, at least 1; got 0'],
    [-5, 'every must be a whole number of seconds, at least 1; got -5'],
    [1.5, 'every must be a whole number of seconds, at least 1; got 1.5'],
    ['0m', "'0m' is zero: an interval must be at least 1 second"],
    [
      '10x',
      "'10x' is not a duration: use a whole number with s, m, h or d (e.g. 10s, 5m, 2h, 1d)"
    ],
    [true, 'every must be a duration such as 10s, 5m, 2h or 1d; got true']
  ])('every %j → %s', (every, message) => {
    expect(problems({ kind: 'interval', every })).toEqual([
      { field: 'every', message }
    ]);
  });

  it('requires every', () => {
    expect(problems({ kind: 'interval' })).toEqual([
      {
        field: 'every',
        message:
          'every is required: seconds between runs, or a duration such as 10m'
      }
    ]);
  });

  it('normalises durations, anchors and bounds to UTC', () => {
    expect(
      validateSchedule({
        kind: 'interval',
        every: '10m',
        anchor: '2026-01-01T00:05:00+01:00',
        start: '2026-04-01',
        end: '2026-04-02T12:00',
        timezone: 'Europe/Berlin',
        missedPolicy: 'latest',
        paused: true,
        parameters: { n: 3 }
      })
    ).toEqual({
      ok: true,
      schedule: {
        kind: 'interval',
        every: 600,
        anchor: '2025-12-31T23:05:00Z',
        timezone: 'Europe/Berlin',
        // Times without an offset are read on the schedule zone's wall clock (CEST, +02:00).
        start: '2026-03-31T22:00:00Z',
        end: '2026-04-02T10:00:00Z',
        missedPolicy: 'latest',
        paused: true,
        parameters: { n: 3 }
      }
    });
  });
});

describe('validateSchedule: the rest', () => {
  it('refuses end before start, naming both', () => {
    expect(
      problems({
        kind: 'interval',
        every: 60,
        start: '2026-05-01T00:00:00Z',
        end: '2026-04-01T00:00:00Z'
      })
    ).toEqual([
      {
        field: 'end',
        message:
          "end '2026-04-01T00:00:00Z' is before start '2026-05-01T00:00:00Z'"
      }
    ]);
  });

  it.each([
    [
      'start',
      'tomorrow',
      "start: 'tomorrow' is not an ISO 8601 time (e.g. 2026-04-01T09:00:00+02:00)"
    ],
    [
      'end',
      '2026-02-30T00:00:00Z',
      "end: '2026-02-30T00:00:00Z' is not a valid date and time"
    ],
    [
      'anchor',
      '2026-01-01T25:00:00Z',
      "anchor: '2026-01-01T25:00:00Z' is not a valid date and time"
    ],
    [
      'start',
      '2026-01-01T00:00:00+25:00',
      "start: '2026-01-01T00:00:00+25:00' has an invalid UTC offset '+25:00'"
    ],
    ['anchor', 12, 'anchor: must be an ISO 8601 time string, got 12']
  ])('%s %j', (field, value, message) => {
    expect(problems({ kind: 'interval', every: 60, [field]: value })).toEqual([
      { field, message }
    ]);
  });

  it('refuses a bad kind, unknown fields, policy, paused and parameters, all at once', () => {
    expect(problems(null)).toEqual([
      { field: 'schedule', message: 'a schedule must be an object, got null' }
    ]);
    expect(problems({ kind: 'weekly' })).toEqual([
      {
        field: 'kind',
        message: "kind must be 'interval' or 'cron', got 'weekly'"
      }
    ]);
    expect(
      problems({
        kind: 'cron',
        expression: '0 6 * * *',
        timezone: 'UTC',
        every: 60,
        missedPolicy: 'some',
        paused: 'yes',
        parameters: [1]
      })
    ).toEqual([
      {
        field: 'every',
        message:
          "unknown field 'every' in a cron schedule (known: kind, paused, parameters, missedPolicy, start, end, timezone, expression)"
      },
      { field: 'paused', message: "paused must be true or false, got 'yes'" },
      {
        field: 'parameters',
        message: 'parameters must be an object of name: value, got [1]'
      },
      {
        field: 'missedPolicy',
        message: "missedPolicy must be 'skip', 'latest' or 'all', got 'some'"
      }
    ]);
  });
});

describe('validateSchedule: times', () => {
  it('keeps milliseconds exactly and reads offsets', () => {
    const result = validateSchedule({
      kind: 'interval',
      every: 1,
      anchor: '2026-01-01T00:00:00.123456+05:30',
      start: '2026-01-01 08:00Z'
    });
    expect(
      result.ok && result.schedule.kind === 'interval' && result.schedule.anchor
    ).toBe('2025-12-31T18:30:00.123Z');
    expect(result.ok && result.schedule.start).toBe('2026-01-01T08:00:00Z');
  });

  it('reads a wall-clock time inside the spring gap as cron does (moved forward)', () => {
    const result = validateSchedule({
      kind: 'cron',
      expression: '0 * * * *',
      timezone: 'Europe/Berlin',
      start: '2026-03-29T02:30'
    });
    expect(result.ok && result.schedule.start).toBe('2026-03-29T01:30:00Z');
    const repeated = validateSchedule({
      kind: 'cron',
      expression: '0 * * * *',
      timezone: 'Europe/Berlin',
      start: '2026-10-25T02:30'
    });
    // A repeated reading means its first occurrence (CEST).
    expect(repeated.ok && repeated.schedule.start).toBe('2026-10-25T00:30:00Z');
  });
});

describe('parseEvery', () => {
  it.each([
    ['10s', 10],
    ['5m', 300],
    ['2h', 7200],
    ['1d', 86400],
    ['90', 90],
    [' 3 H ', 10800],
    [45, 45]
  ])('%j → %d seconds', (text, seconds) => {
    expect(parseEvery(text)).toBe(seconds);
  });

  it('throws errors that name the text', () => {
    expect(() => parseEvery('5 minutes')).toThrow(
      "'5 minutes' is not a duration: use a whole number with s, m, h or d (e.g. 10s, 5m, 2h, 1d)"
    );
    expect(() => parseEvery('0s')).toThrow(
      "'0s' is zero: an interval must be at least 1 second"
    );
    expect(() => parseEvery('-1m')).toThrow("'-1m' is not a duration");
    expect(() => parseEvery('')).toThrow("'' is not a duration");
  });
});
