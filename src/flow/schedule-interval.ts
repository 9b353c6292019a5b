/**
 * Interval schedules: durations ("10s", "5m"), the run times anchor + k × every, and their wording.
 */
import { LIMITS } from './limits.js';
import { formatClock, formatInZone, wallClock } from './schedule-zone.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** The largest time a Date holds, in ms either side of the epoch. */
const MAX_DATE_MS = 8.64e15;

/**
 * Seconds in a duration: "10s", "5m", "2h", "1d", or a bare number of seconds ("90"). Throws an
 * Error naming the text when it is not a whole number of at least one second, or is longer than
 * LIMITS.every.max (366 days).
 */
export function parseEvery(text: string | number): number {
  const result = tryParseEvery(text);
  if (typeof result === 'string') {
    throw new Error(result);
  }
  return result;
}

/** parseEvery without throwing: the seconds, or the error message. */
export function tryParseEvery(text: string | number): number | string {
  if (typeof text === 'number') {
    if (!Number.isInteger(text) || text < 1) {
      return `every must be a whole number of seconds, at least 1; got ${text}`;
    }
    if (text > LIMITS.every.max) {
      return `every must be at most 366 days (${LIMITS.every.max} seconds); got ${text}`;
    }
    return text;
  }
  if (typeof text !== 'string') {
    return `every must be a duration such as 10s, 5m, 2h or 1d; got ${JSON.stringify(text)}`;
  }
  const m = /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(text);
  if (!m) {
    return `'${text}' is not a duration: use a whole number with s, m, h or d (e.g. 10s, 5m, 2h, 1d)`;
  }
  const seconds = Number(m[1]) * UNITS[(m[2] || 's').toLowerCase()];
  if (seconds < 1) {
    return `'${text}' is zero: an interval must be at least 1 second`;
  }
  if (!Number.isSafeInteger(seconds) || seconds > LIMITS.every.max) {
    return `'${text}' is too long an interval: every must be at most 366 days (${LIMITS.every.max} seconds)`;
  }
  return seconds;
}

/**
 * Up to `count` times (ms) of anchor + k × every in [loMs, hiMs], from the earliest, or from the
 * latest when `latest` is set (ascending either way).
 */
export function intervalRuns(
  anchorMs: number,
  everySeconds: number,
  loMs: number,
  hiMs: number,
  count: number,
  latest = false
): number[] {
  const every = everySeconds * 1000;
  if (!(every > 0) || !Number.isFinite(every) || !Number.isFinite(anchorMs)) {
    // A stored value past the bounds (or no number at all) has no run times.
    return [];
  }
  const kLo = Math.ceil((loMs - anchorMs) / every);
  const kHi = Number.isFinite(hiMs)
    ? Math.floor((hiMs - anchorMs) / every)
    : Infinity;
  const n = Math.max(0, Math.min(count, kHi - kLo + 1));
  const first = latest ? kHi - n + 1 : kLo;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const at = anchorMs + (first + i) * every;
    // Past what a Date holds (±8.64e15 ms) there is no run time to give.
    if (Math.abs(at) <= MAX_DATE_MS) {
      out.push(at);
    }
  }
  return out;
}

function unitPhrase(seconds: number): string {
  const [n, unit] =
    seconds % 86400 === 0
      ? [seconds / 86400, 'day']
      : seconds % 3600 === 0
        ? [seconds / 3600, 'hour']
        : seconds % 60 === 0
          ? [seconds / 60, 'minute']
          : [seconds, 'second'];
  return n === 1 ? `every ${unit}` : `every ${n} ${unit}s`;
}

/**
 * "every 10 seconds", "every 2 hours", "every 10 minutes from :05", "every day at 09:00", or for a
 * period that does not divide an hour or a day, "every 7 minutes from <anchor>". The phase is read on
 * `zone`'s wall clock at the anchor (an interval is elapsed time, so across a DST change the wall
 * clock phase of an hours-long interval moves).
 */
export function describeInterval(
  every: number,
  anchor: Date | undefined,
  zone: string
): string {
  const base = unitPhrase(every);
  if (!anchor) {
    return base;
  }
  const w = wallClock(anchor, zone);
  const ofHour = w.minute * 60 + w.second;
  const ofDay = w.hour * 3600 + ofHour;
  if (every < 3600 && 3600 % every === 0) {
    const phase = ofHour % every;
    if (phase === 0) {
      return base;
    }
    const mm = String(Math.floor(phase / 60)).padStart(2, '0');
    const ss = phase % 60 ? ':' + String(phase % 60).padStart(2, '0') : '';
    return `${base} from :${mm}${ss}`;
  }
  if (every <= 86400 && 86400 % every === 0) {
    const phase = ofDay % every;
    const clock = {
      hour: Math.floor(phase / 3600),
      minute: Math.floor((phase % 3600) / 60),
      second: phase % 60
    };
    if (every === 86400) {
      return `${base} at ${formatClock(clock, false)}`;
    }
    return phase === 0 ? base : `${base} from ${formatClock(clock, false)}`;
  }
  return `${base} from ${formatInZone(anchor, zone)}`;
}
