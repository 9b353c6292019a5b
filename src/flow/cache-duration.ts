/**
 * The `--cache-for` duration of a cached task: the interval schedules' syntax ("30s", "10m", "1h",
 * "7d", or a bare number of seconds), bounded by LIMITS.cacheFor (1 second to 365 days).
 */
import { LIMITS } from './limits.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds, or a message completing "--cache-for ..." that says what is wrong. */
export function parseCacheFor(text: string): number | string {
  const m = /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(text);
  if (!m) {
    return `must be a duration such as 30s, 10m, 1h or 7d, got "${text}"`;
  }
  const seconds = Number(m[1]) * UNITS[(m[2] || 's').toLowerCase()];
  if (seconds < LIMITS.cacheFor.min) {
    return `must be at least 1 second, got "${text}"`;
  }
  if (!Number.isSafeInteger(seconds) || seconds > LIMITS.cacheFor.max) {
    return `must be at most 365 days (${LIMITS.cacheFor.max} seconds), got "${text}"`;
  }
  return seconds;
}

/** Seconds written back the shortest way the parser reads: 3600 → "1h", 90 → "90s". */
export function formatCacheFor(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60]
  ] as const) {
    if (seconds >= size && seconds % size === 0) {
      return `${seconds / size}${unit}`;
    }
  }
  return `${seconds}s`;
}
