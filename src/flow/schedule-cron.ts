/**
 * Cron expressions: checking them field by field (cron-parser's own messages do not say which field
 * is wrong, and it accepts a 4-field expression), the time fields they match, and the note for a run
 * DST moved. Iteration is in schedule-cron-runs.ts.
 */
import { CronExpressionParser } from 'cron-parser';

import {
  formatClock,
  formatDay,
  wallClock,
  zoneOffsetMs
} from './schedule-zone.js';

const DAY_MS = 86_400_000;

const FIELD_NAMES = [
  'second',
  'minute',
  'hour',
  'day-of-month',
  'month',
  'day-of-week'
];

/** The nicknames cron-parser understands, spelled out so the field count check stays simple. */
const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *'
};

/** The expression with any macro expanded and whitespace normalised. */
export function expandCron(expression: string): string {
  const trimmed = expression.trim().replace(/\s+/g, ' ');
  return MACROS[trimmed.toLowerCase()] ?? trimmed;
}

/** True when the expression carries a seconds field (6 fields). */
export function cronHasSeconds(expression: string): boolean {
  return expandCron(expression).split(' ').length === 6;
}

function rephrase(field: string, value: string, raw: string): string {
  const range = /got value (\S+) expected range (\d+)-(\d+)/.exec(raw);
  if (range) {
    const [, got, lo, hi] = range;
    return got === value
      ? `${field} field '${value}' is out of range ${lo}-${hi}`
      : `${field} field '${value}': ${got} is out of range ${lo}-${hi}`;
  }
  if (/Invalid characters/.test(raw)) {
    return `${field} field '${value}' has invalid characters`;
  }
  const backwards = /Invalid range: (\S+), min\((\d+)\) > max\((\d+)\)/.exec(
    raw
  );
  if (backwards) {
    return `${field} field '${value}': range ${backwards[1]} goes backwards (${backwards[2]} > ${backwards[3]})`;
  }
  if (/repeat at every 0/.test(raw)) {
    return `${field} field '${value}' has a step of 0`;
  }
  return `${field} field '${value}' is invalid (${raw})`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * What is wrong with a cron expression, naming the field and its value, or null when it is valid.
 * Each field is tried alone (the others '*') so cron-parser's message can be tied to it.
 */
export function checkCronExpression(expression: string): string | null {
  if (typeof expression !== 'string' || expression.trim() === '') {
    return 'a cron expression is required (e.g. "0 6 * * 1-5")';
  }
  const expanded = expandCron(expression);
  if (expanded.startsWith('@')) {
    return `'${expression.trim()}' is not a cron nickname (use @yearly, @monthly, @weekly, @daily or @hourly)`;
  }
  const fields = expanded.split(' ');
  if (fields.length !== 5 && fields.length !== 6) {
    return (
      `'${expression.trim()}' has ${fields.length} field${fields.length === 1 ? '' : 's'}; ` +
      'a cron expression has 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)'
    );
  }
  const six = fields.length === 6 ? fields : ['0', ...fields];
  for (let i = fields.length === 6 ? 0 : 1; i < 6; i++) {
    const probe = six.map((f, j) => (j === i ? f : j === 0 ? '0' : '*'));
    try {
      CronExpressionParser.parse(probe.join(' '), { tz: 'UTC' });
    } catch (err) {
      return rephrase(FIELD_NAMES[i], six[i], errorText(err));
    }
  }
  try {
    CronExpressionParser.parse(expanded, { tz: 'UTC' });
  } catch (err) {
    const raw = errorText(err);
    if (/day of month/i.test(raw)) {
      return `day-of-month field '${six[3]}' never occurs in month field '${six[4]}'`;
    }
    return `'${expression.trim()}' is not a valid cron expression (${raw})`;
  }
  return null;
}

/** The values each time field matches, for telling a DST-shifted run from a regular one. */
interface TimeFields {
  second: Set<number>;
  minute: Set<number>;
  hour: Set<number>;
}

export function timeFields(expression: string): TimeFields {
  const f = CronExpressionParser.parse(expandCron(expression), {
    tz: 'UTC'
  }).fields;
  return {
    second: new Set(f.second.values.map(Number)),
    minute: new Set(f.minute.values.map(Number)),
    hour: new Set(f.hour.values.map(Number))
  };
}

/**
 * For a run the clocks moved (its wall-clock time is not one the expression names, because that
 * time did not exist that day), a note saying which time was skipped and when it really runs.
 */
export function cronShiftNote(
  expression: string,
  zone: string,
  t: number
): string | undefined {
  const fields = timeFields(expression);
  const w = wallClock(new Date(t), zone);
  if (
    fields.hour.has(w.hour) &&
    fields.minute.has(w.minute) &&
    fields.second.has(w.second)
  ) {
    return undefined;
  }
  const gap =
    zoneOffsetMs(new Date(t), zone) - zoneOffsetMs(new Date(t - DAY_MS), zone);
  if (gap <= 0) {
    return undefined;
  }
  const seconds = cronHasSeconds(expression);
  // The wall clock as it would read had the clocks not moved: the time the user asked for.
  const wantedReading = wallClock(
    new Date(t + zoneOffsetMs(new Date(t), zone) - gap),
    'UTC'
  );
  return (
    `${formatClock(wantedReading, seconds)} does not exist on ${formatDay(w)} in ${zone} ` +
    `(clocks go forward); runs at ${formatClock(w, seconds)}`
  );
}
