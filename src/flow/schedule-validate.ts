/**
 * validateSchedule: untrusted input (the panel, the API, a stored row) to a normalised ScheduleSpec,
 * or every problem found, each naming the field and the value at fault.
 */
import { checkCronExpression } from './schedule-cron.js';
import { tryParseEvery } from './schedule-interval.js';
import type {
  MissedPolicy,
  ScheduleProblem,
  ScheduleSpec,
  ScheduleValidation
} from './schedule-types.js';
import {
  canonicalTimeZone,
  formatUtc,
  parseIsoTime,
  userTimeZone
} from './schedule-zone.js';

const COMMON_KEYS = [
  'kind',
  'paused',
  'parameters',
  'missedPolicy',
  'start',
  'end',
  'timezone'
];
const KEYS: Record<ScheduleSpec['kind'], string[]> = {
  interval: [...COMMON_KEYS, 'every', 'anchor'],
  cron: [...COMMON_KEYS, 'expression']
};
const POLICIES: MissedPolicy[] = ['skip', 'latest', 'all'];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v));
}

export function validateSchedule(input: unknown): ScheduleValidation {
  const problems: ScheduleProblem[] = [];
  const fail = (field: string, message: string) =>
    problems.push({ field, message });

  if (!isPlainObject(input)) {
    return {
      ok: false,
      problems: [
        {
          field: 'schedule',
          message: `a schedule must be an object, got ${show(input)}`
        }
      ]
    };
  }
  const kind = input.kind;
  if (kind !== 'interval' && kind !== 'cron') {
    return {
      ok: false,
      problems: [
        {
          field: 'kind',
          message: `kind must be 'interval' or 'cron', got ${show(kind)}`
        }
      ]
    };
  }
  for (const key of Object.keys(input)) {
    if (!KEYS[kind].includes(key)) {
      fail(
        key,
        `unknown field '${key}' in a ${kind} schedule (known: ${KEYS[kind].join(', ')})`
      );
    }
  }

  // The zone first: times written without an offset are read on its wall clock.
  let zone: string | undefined;
  if (input.timezone !== undefined || kind === 'cron') {
    const given = input.timezone ?? userTimeZone();
    const canonical =
      typeof given === 'string' ? canonicalTimeZone(given) : null;
    if (canonical === null) {
      fail(
        'timezone',
        `unknown time zone ${show(given)} (use an IANA name such as Europe/Berlin)`
      );
    } else {
      zone = canonical;
    }
  }
  const readZone = zone ?? 'UTC';
  const time = (field: string): Date | undefined => {
    const value = input[field];
    if (value === undefined) {
      return undefined;
    }
    const parsed = parseIsoTime(value as string, readZone);
    if (typeof parsed === 'string') {
      fail(field, `${field}: ${parsed}`);
      return undefined;
    }
    return parsed;
  };
  const start = time('start');
  const end = time('end');
  if (start && end && end.getTime() < start.getTime()) {
    fail('end', `end '${input.end}' is before start '${input.start}'`);
  }

  if (input.paused !== undefined && typeof input.paused !== 'boolean') {
    fail('paused', `paused must be true or false, got ${show(input.paused)}`);
  }
  if (input.parameters !== undefined && !isPlainObject(input.parameters)) {
    fail(
      'parameters',
      `parameters must be an object of name: value, got ${show(input.parameters)}`
    );
  }
  if (
    input.missedPolicy !== undefined &&
    !POLICIES.includes(input.missedPolicy as MissedPolicy)
  ) {
    fail(
      'missedPolicy',
      `missedPolicy must be 'skip', 'latest' or 'all', got ${show(input.missedPolicy)}`
    );
  }

  const common = {
    ...(input.paused !== undefined && { paused: input.paused as boolean }),
    ...(input.parameters !== undefined && {
      parameters: input.parameters as Record<string, unknown>
    }),
    ...(input.missedPolicy !== undefined && {
      missedPolicy: input.missedPolicy as MissedPolicy
    }),
    ...(start && { start: formatUtc(start) }),
    ...(end && { end: formatUtc(end) })
  };

  let schedule: ScheduleSpec | undefined;
  if (kind === 'interval') {
    let every = 0;
    if (input.every === undefined) {
      fail(
        'every',
        'every is required: seconds between runs, or a duration such as 10m'
      );
    } else {
      const parsed = tryParseEvery(input.every as string | number);
      if (typeof parsed === 'string') {
        fail('every', parsed);
      } else {
        every = parsed;
      }
    }
    const anchor = time('anchor');
    schedule = {
      kind,
      every,
      ...(anchor && { anchor: formatUtc(anchor) }),
      ...(zone && { timezone: zone }),
      ...common
    };
  } else {
    const expression = input.expression;
    const problem =
      typeof expression === 'string'
        ? checkCronExpression(expression)
        : `expression must be a cron expression string, got ${show(expression)}`;
    if (problem) {
      fail('expression', problem);
    }
    schedule = {
      kind,
      expression: typeof expression === 'string' ? expression.trim() : '',
      timezone: readZone,
      ...common
    };
  }
  return problems.length ? { ok: false, problems } : { ok: true, schedule };
}
