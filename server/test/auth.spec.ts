/**
 * API keys end to end against a real embedded store: generation, hashing, verification, revocation,
 * and that no failure ever carries the key.
 */
import { createHash, randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  UnauthorizedError,
  apiKeyDisplayPrefix,
  bearerToken,
  generateApiKey,
  hashApiKey,
  verifyApiKey
} from '../src/auth/keys.js';
import { openPgliteStore, type Store } from '../src/store/index.js';

describe('API key helpers', () => {
  it('generates cf_ + 43 base64url characters (32 random bytes), distinct each time', () => {
    const keys = new Set(Array.from({ length: 50 }, generateApiKey));
    expect(keys.size).toBe(50);
    for (const key of keys) {
      expect(key).toMatch(/^cf_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(key.slice(3), 'base64url')).toHaveLength(32);
    }
  });

  it('hashes with SHA-256 hex and shows only an 8-character prefix', () => {
    const key = generateApiKey();
    expect(hashApiKey(key)).toBe(
      createHash('sha256').update(key).digest('hex')
    );
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(apiKeyDisplayPrefix(key)).toBe(key.slice(0, 8));
  });

  it('reads a Bearer token from an Authorization header', () => {
    expect(bearerToken('Bearer cf_abc')).toBe('cf_abc');
    expect(bearerToken('bearer  cf_abc ')).toBe('cf_abc');
    expect(bearerToken('Basic dXNlcjpwYXNz')).toBeNull();
    expect(bearerToken('Bearer')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
});

describe('verifyApiKey', () => {
  let store: Store;

  beforeAll(async () => {
    store = await openPgliteStore();
  }, 60_000);

  afterAll(async () => {
    await store?.close();
  });

  async function rejection(
    presented: string | null
  ): Promise<UnauthorizedError> {
    const error = await verifyApiKey(store, presented).catch(e => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    return error;
  }

  it('resolves a valid key to its workspace and records its use', async () => {
    const ws = await store.ensureWorkspace(`ws-${randomUUID()}`);
    const { key, secret } = await store.createApiKey(ws.id, 'ci');
    const now = new Date('2026-03-01T12:00:00Z');
    const principal = await verifyApiKey(store, secret, now);
    expect(principal.workspace.id).toBe(ws.id);
    expect(principal.key.id).toBe(key.id);
    expect(principal.key).not.toHaveProperty('hash');
    expect((await store.listApiKeys(ws.id))[0].lastUsedAt).toEqual(now);

    // Within a minute the use is not written again; after it, it is.
    await verifyApiKey(store, secret, new Date(now.getTime() + 30_000));
    expect((await store.listApiKeys(ws.id))[0].lastUsedAt).toEqual(now);
    const later = new Date(now.getTime() + 61_000);
    await verifyApiKey(store, secret, later);
    expect((await store.listApiKeys(ws.id))[0].lastUsedAt).toEqual(later);
  });

  it('refuses unknown, malformed, missing and revoked keys alike, never echoing the key', async () => {
    const ws = await store.ensureWorkspace(`ws-${randomUUID()}`);
    const { key, secret } = await store.createApiKey(ws.id, 'laptop');
    const unknown = generateApiKey();
    const messages = new Set<string>();
    for (const presented of [unknown, 'cf_short', secret + 'x', '', null]) {
      const error = await rejection(presented);
      messages.add(error.message);
      if (presented) {
        expect(
          JSON.stringify({
            ...error,
            message: error.message,
            stack: error.stack
          })
        ).not.toContain(presented);
      }
    }
    expect(await store.revokeApiKey(ws.id, key.id)).toBe(true);
    const revoked = await rejection(secret);
    messages.add(revoked.message);
    expect(revoked.stack).not.toContain(secret);
    expect([...messages]).toEqual(['Missing, invalid or revoked API key']);
    expect(revoked.statusCode).toBe(401);
  });

  it('keeps a key to its own workspace', async () => {
    const a = await store.ensureWorkspace(`ws-${randomUUID()}`);
    const b = await store.ensureWorkspace(`ws-${randomUUID()}`);
    const keyA = await store.createApiKey(a.id, 'a');
    const keyB = await store.createApiKey(b.id, 'b');
    expect((await verifyApiKey(store, keyA.secret)).workspace.id).toBe(a.id);
    expect((await verifyApiKey(store, keyB.secret)).workspace.id).toBe(b.id);
    // Revoking b's key by id from workspace a does nothing.
    expect(await store.revokeApiKey(a.id, keyB.key.id)).toBe(false);
    expect((await verifyApiKey(store, keyB.secret)).workspace.id).toBe(b.id);
  });
});
