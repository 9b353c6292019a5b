/**
 * Keys verified in the last second (verified-keys.ts) against a real embedded store: a burst of
 * requests with one key is one store lookup, a revoked key is refused once its second is over (at once
 * after clear(), which a revoke through the admin channel calls), wrong keys always reach the store,
 * and the memory it holds is bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { UnauthorizedError, generateApiKey } from '../src/auth/keys.js';
import { VERIFIED_KEYS_MAX, VerifiedKeys } from '../src/auth/verified-keys.js';
import { openPgliteStore, type Store } from '../src/store/index.js';
import { watchedStore } from './support/watched-store.js';

let store: Store;
let lookups = 0;
/** The store, counting its key lookups. */
let counted: Store;

beforeAll(async () => {
  store = await openPgliteStore();
  counted = watchedStore(store, 'findApiKeyByHash', () => lookups++);
});
afterAll(() => store.close());

/** A clock the test moves. */
function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('VerifiedKeys', () => {
  it('looks a key up once for a burst of requests, again once its second is over', async () => {
    const ws = await store.ensureWorkspace('burst');
    const { secret } = await store.createApiKey(ws.id, 'k');
    const time = clock();
    const keys = new VerifiedKeys(counted, 1000, time.now);
    lookups = 0;
    for (let i = 0; i < 20; i++) {
      expect((await keys.verify(secret)).workspace.id).toBe(ws.id);
    }
    expect(lookups).toBe(1);
    time.advance(1001);
    await keys.verify(secret);
    expect(lookups).toBe(2);
  });

  it('refuses a revoked key once its second is over, and at once after clear()', async () => {
    const ws = await store.ensureWorkspace('revoked');
    const { secret, key } = await store.createApiKey(ws.id, 'k');
    const time = clock();
    const keys = new VerifiedKeys(counted, 1000, time.now);
    await keys.verify(secret);
    await store.revokeApiKey(ws.id, key.id);
    time.advance(1001);
    await expect(keys.verify(secret)).rejects.toBeInstanceOf(UnauthorizedError);

    const other = await store.createApiKey(ws.id, 'k2');
    await keys.verify(other.secret);
    await store.revokeApiKey(ws.id, other.key.id);
    keys.clear();
    await expect(keys.verify(other.secret)).rejects.toBeInstanceOf(
      UnauthorizedError
    );
  });

  it('never keeps a failure: every wrong key is a store lookup', async () => {
    const keys = new VerifiedKeys(counted);
    const wrong = generateApiKey();
    lookups = 0;
    for (let i = 0; i < 3; i++) {
      await expect(keys.verify(wrong)).rejects.toBeInstanceOf(
        UnauthorizedError
      );
    }
    expect(lookups).toBe(3);
    expect(keys.size).toBe(0);
    await expect(keys.verify(null)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('gives each request its own principal: a change to one is not seen by the next', async () => {
    const ws = await store.ensureWorkspace('copies');
    const { secret } = await store.createApiKey(ws.id, 'k');
    const keys = new VerifiedKeys(counted);
    const first = await keys.verify(secret);
    first.workspace.name = 'changed';
    first.key.name = 'changed';
    const second = await keys.verify(secret);
    expect(second.workspace.name).toBe('copies');
    expect(second.key.name).toBe('k');
  });

  it(`keeps at most ${VERIFIED_KEYS_MAX} keys, the oldest going first`, async () => {
    const ws = await store.ensureWorkspace('many');
    const { secret } = await store.createApiKey(ws.id, 'k');
    const keys = new VerifiedKeys(counted);
    await keys.verify(secret);
    // Filled up with the same principal under made-up hashes: the bound, not the store, is tested.
    const entries = (keys as unknown as { entries: Map<string, unknown> })
      .entries;
    const kept = [...entries.values()][0];
    for (let i = 1; i < VERIFIED_KEYS_MAX; i++) {
      entries.set(`hash-${i}`, kept);
    }
    const another = await store.createApiKey(ws.id, 'k2');
    await keys.verify(another.secret);
    expect(keys.size).toBe(VERIFIED_KEYS_MAX);
    lookups = 0;
    await keys.verify(secret); // the oldest: gone, so looked up again
    expect(lookups).toBe(1);
  });

  it('does not keep a lookup that a clear() overtook: its answer may be from before a revoke', async () => {
    const ws = await store.ensureWorkspace('overtaken');
    const { secret } = await store.createApiKey(ws.id, 'k');
    let release!: () => void;
    const held = new Promise<void>(resolve => (release = resolve));
    let answered!: () => void;
    const lookupAnswered = new Promise<void>(resolve => (answered = resolve));
    let calls = 0;
    const slow = new Proxy(store, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (name === 'findApiKeyByHash') {
          return async (hash: string) => {
            calls++;
            const answer = await target.findApiKeyByHash(hash);
            if (calls === 1) {
              answered();
              await held; // answered, but not yet back with the caller
            }
            return answer;
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      }
    });
    const keys = new VerifiedKeys(slow);
    const first = keys.verify(secret);
    await lookupAnswered;
    keys.clear(); // a revoke through the admin channel, while the lookup is out
    release();
    await first;
    expect(keys.size).toBe(0);
    await keys.verify(secret);
    expect(calls).toBe(2);
  });
});
