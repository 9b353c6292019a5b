/**
 * Retry delays: retryDelay * backoff^(n-1) seconds before retry n, with optional jitter so that many
 * runs failing on the same outage do not all come back at the same instant. No wait is longer than
 * MAX_RETRY_WAIT_SECONDS (one day, limits.ts), which keeps it inside what a Node timer honours.
 */
import { MAX_RETRY_WAIT_SECONDS } from './limits.js';

export interface BackoffSettings {
  /** Seconds before the first retry. */
  retryDelay: number;
  /** Multiplier per further retry (1 = constant delay). */
  backoff: number;
}

export interface JitterOptions {
  /**
   * Fraction of the delay the jitter may add or remove (0.1 = ±10 %). 0 or undefined = no jitter.
   * Clamped to [0, 1] so a delay never becomes negative.
   */
  jitter?: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

/** Milliseconds to wait before retry number `retry` (1-based). */
export function retryDelayMs(
  settings: BackoffSettings,
  retry: number,
  options: JitterOptions = {}
): number {
  if (!Number.isInteger(retry) || retry < 1) {
    throw new RangeError(`retry number must be an integer >= 1, got ${retry}`);
  }
  // NaN (a spec from elsewhere) counts as no delay and no backoff.
  const base = settings.retryDelay > 0 ? settings.retryDelay : 0;
  const factor = settings.backoff > 0 ? settings.backoff : 1;
  let seconds = base * Math.pow(factor, retry - 1);
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0));
  if (jitter > 0) {
    const random = options.random ?? Math.random;
    seconds *= 1 + jitter * (2 * random() - 1);
  }
  if (!(seconds > 0)) {
    return 0;
  }
  return Math.round(Math.min(seconds, MAX_RETRY_WAIT_SECONDS) * 1000);
}
