/**
 * A limit on failed authentication per client address: API keys are long and random, but a server many
 * people reach must not let anyone try thousands of keys a second (2,000 bad-key requests in 2.4 s went
 * through before this). After `max` failures within `windowMs`, that address gets 429 with Retry-After
 * (the seconds until its oldest failure leaves the window) on every request that needs a key, without the
 * key being looked at, until it is allowed again. Successes are not counted and do not reset it.
 *
 * Memory is bounded: at most `max` times per address, at most MAX_ADDRESSES addresses (the one seen
 * longest ago is forgotten first).
 */
export interface FailedAuthLimitOptions {
  /** Failures allowed within the window (default 20). */
  max?: number;
  /** The window, in ms (default 60 s). */
  windowMs?: number;
  now?: () => number;
}

export const DEFAULT_FAILED_AUTH_MAX = 20;
export const DEFAULT_FAILED_AUTH_WINDOW_MS = 60_000;
const MAX_ADDRESSES = 100_000;

export class FailedAuthLimit {
  readonly max: number;
  readonly windowMs: number;
  private readonly now: () => number;
  /** Failure times per address, oldest first; the Map's order is the order addresses were last seen. */
  private readonly failures = new Map<string, number[]>();

  constructor(options: FailedAuthLimitOptions = {}) {
    this.max = options.max ?? DEFAULT_FAILED_AUTH_MAX;
    this.windowMs = options.windowMs ?? DEFAULT_FAILED_AUTH_WINDOW_MS;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.max) || this.max < 1 || this.max > 1_000_000) {
      throw new RangeError(
        `the failed authentication limit must be a whole number from 1 to 1000000, got ${options.max}`
      );
    }
    if (
      !Number.isInteger(this.windowMs) ||
      this.windowMs < 1000 ||
      this.windowMs > 86_400_000
    ) {
      throw new RangeError(
        `the failed authentication window must be 1 s to 1 day, got ${options.windowMs} ms`
      );
    }
  }

  /** Seconds `address` must wait before its key is looked at again, or 0 when it may try now. */
  retryAfterSeconds(address: string): number {
    const times = this.recent(address);
    if (times.length < this.max) {
      return 0;
    }
    const freeAt = times[times.length - this.max] + this.windowMs;
    return Math.max(1, Math.ceil((freeAt - this.now()) / 1000));
  }

  recordFailure(address: string): void {
    const times = this.recent(address);
    times.push(this.now());
    if (times.length > this.max) {
      times.splice(0, times.length - this.max);
    }
    this.failures.delete(address);
    this.failures.set(address, times);
    if (this.failures.size > MAX_ADDRESSES) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) {
        this.failures.delete(oldest);
      }
    }
  }

  private recent(address: string): number[] {
    const times = this.failures.get(address);
    if (!times) {
      return [];
    }
    const since = this.now() - this.windowMs;
    while (times.length > 0 && times[0] <= since) {
      times.shift();
    }
    if (times.length === 0) {
      this.failures.delete(address);
    }
    return times;
  }
}
