/**
 * Keys verified in the last second, so a client's burst of requests costs one store lookup a second
 * instead of one each (issue 16: under 50 API clients the key lookup was one of every request's two or
 * three store reads). A second is the same bound the event streams keep for a revoked key
 * (STREAM_KEY_CHECK_MS): a key revoked here, by the CLI or by another server on the same database is
 * refused everywhere within it. Only successes are kept: a wrong key always reaches the store (and the
 * failed-authentication limit). Entries are keyed by the key's SHA-256, never the key itself.
 */
import type { Store } from '../store/store.js';
import { hashApiKey, verifyApiKey, type Principal } from './keys.js';

export const VERIFIED_KEY_TTL_MS = 1000;
/** Bounds the memory a flood of distinct valid keys could take; the oldest go first. */
export const VERIFIED_KEYS_MAX = 10_000;

export class VerifiedKeys {
  private readonly entries = new Map<
    string,
    { principal: Principal; until: number }
  >();
  /** Counts clear()s: a lookup that a clear() overtook is not kept (its answer may predate a revoke). */
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly ttlMs = VERIFIED_KEY_TTL_MS,
    // Monotonic: a wall clock set back would keep a revoked key for as long as it went back.
    private readonly now: () => number = () => performance.now()
  ) {}

  /** The key's principal, from the last second's verification or the store's (verifyApiKey). */
  async verify(presented: string | null | undefined): Promise<Principal> {
    const hash = typeof presented === 'string' ? hashApiKey(presented) : null;
    const kept = hash === null ? undefined : this.entries.get(hash);
    if (kept && kept.until > this.now()) {
      return copy(kept.principal);
    }
    if (kept) {
      this.entries.delete(hash!);
    }
    // The second counts from before the lookup: its answer is as old as the lookup's start.
    const started = this.now();
    const generation = this.generation;
    const principal = await verifyApiKey(this.store, presented);
    if (hash !== null && this.ttlMs > 0 && generation === this.generation) {
      if (this.entries.size >= VERIFIED_KEYS_MAX) {
        this.entries.delete(this.entries.keys().next().value!);
      }
      this.entries.set(hash, {
        principal: copy(principal),
        until: started + this.ttlMs
      });
    }
    return principal;
  }

  /** Forgets every kept verification (a key revoked through this process is refused at once). */
  clear(): void {
    this.generation++;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Each request gets its own objects: a handler that changed one must not change the next request's. */
function copy(principal: Principal): Principal {
  return { workspace: { ...principal.workspace }, key: { ...principal.key } };
}
