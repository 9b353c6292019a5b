/**
 * The bounds of every number a user can give Cellflow, in one place: the compiler (`%%task` lines and
 * cell metadata), the schedule maths, the API's schemas and the CLI all check against these, so a
 * value accepted anywhere fits what later uses it (a timer, a Date, an integer column).
 *
 * - Timers: Node fires a `setTimeout` longer than 2^31-1 ms (about 24.8 days) at once, so every
 *   delay that feeds a timer stays at or below MAX_TIMER_MS.
 * - Dates: a JavaScript Date holds ±8.64e15 ms; an interval of at most 366 days keeps
 *   anchor + k × every far inside it for any realistic anchor.
 * - Columns: PostgreSQL `integer` holds up to 2^31-1; maxConcurrent stays well below it.
 */

/** The longest delay a Node timer honours (longer ones fire at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const DAY_SECONDS = 86_400;

export interface NumberLimit {
  /** Smallest accepted value (inclusive unless `exclusiveMin`). */
  min: number;
  /** Largest accepted value, inclusive. */
  max: number;
  /** The minimum itself is refused (timeout > 0). */
  exclusiveMin?: boolean;
  /** Whole numbers only. */
  whole: boolean;
  /** The unit, for messages: "seconds" or "" for a plain count or factor. */
  unit: string;
}

export const LIMITS = {
  /** Retries of a failed task attempt. */
  retries: { min: 0, max: 100, whole: true, unit: '' },
  /** Seconds before the first retry: up to one day. */
  retryDelay: { min: 0, max: DAY_SECONDS, whole: false, unit: 'seconds' },
  /** Multiplier of the delay per further retry. */
  backoff: { min: 1, max: 10, whole: false, unit: '' },
  /** Seconds an attempt may run: more than 0, up to 7 days. */
  timeout: {
    min: 0,
    max: 7 * DAY_SECONDS,
    exclusiveMin: true,
    whole: false,
    unit: 'seconds'
  },
  /** Seconds between the runs of an interval schedule: 1 second to 366 days. */
  every: { min: 1, max: 366 * DAY_SECONDS, whole: true, unit: 'seconds' },
  /** How long a task's cached result may be reused (`--cache-for`): 1 second to 365 days. */
  cacheFor: { min: 1, max: 365 * DAY_SECONDS, whole: true, unit: 'seconds' },
  /** Elements of a mapped task (`--map`): each is a task run of its own, stored and shown. */
  mapElements: { min: 0, max: 1000, whole: true, unit: '' },
  /** Parallel runs of one flow (overlap policy 'parallel'). */
  maxConcurrent: { min: 1, max: 1000, whole: true, unit: '' }
} as const satisfies Record<string, NumberLimit>;

/**
 * The longest single retry wait, whatever retryDelay × backoff^(n-1) comes to: one day. It is below
 * MAX_TIMER_MS, so a retry never waits in a timer Node would fire at once.
 */
export const MAX_RETRY_WAIT_SECONDS = LIMITS.retryDelay.max;

/** Deepest nesting of JSON the API accepts (objects and arrays inside each other). */
export const MAX_JSON_DEPTH = 200;

/** Longest id (of a flow, run, schedule) a path or query string may carry. */
export const MAX_ID_LENGTH = 200;

/** "from 0 to 100", "more than 0 and at most 604800 seconds". */
export function describeLimit(limit: NumberLimit): string {
  const kind = limit.whole ? 'a whole number' : 'a number';
  const what = limit.unit ? `${kind} of ${limit.unit}` : kind;
  return limit.exclusiveMin
    ? `${what} more than ${limit.min} and at most ${limit.max}`
    : `${what} from ${limit.min} to ${limit.max}`;
}

/** True when `value` is a finite number within `limit`. */
export function withinLimit(value: unknown, limit: NumberLimit): boolean {
  return (
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!limit.whole || Number.isInteger(value)) &&
    (limit.exclusiveMin ? value > limit.min : value >= limit.min) &&
    value <= limit.max
  );
}

/** JSON-schema bounds of a limit, for the API's schemas. */
export function limitSchema(limit: NumberLimit): {
  type: 'integer' | 'number';
  minimum?: number;
  exclusiveMinimum?: number;
  maximum: number;
} {
  return {
    type: limit.whole ? 'integer' : 'number',
    ...(limit.exclusiveMin
      ? { exclusiveMinimum: limit.min }
      : { minimum: limit.min }),
    maximum: limit.max
  };
}

/** A delay for a timer: finite, ≥ 0 and ≤ MAX_TIMER_MS (NaN gives 0, too long gives the maximum). */
export function timerMs(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) {
    return 0;
  }
  return Math.min(ms, MAX_TIMER_MS);
}
