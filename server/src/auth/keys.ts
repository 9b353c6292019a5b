/**
 * API keys: `cf_` + base64url of 32 random bytes. Only the SHA-256 of a key is stored; a presented key is
 * hashed, looked up by hash, and compared in constant time. A key never appears in an error or a log:
 * every failure is the same UnauthorizedError with the same message.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import type { ApiKeyInfo, Store, Workspace } from '../store/store.js';

export const API_KEY_PREFIX = 'cf_';
/** Characters of a key kept in clear for display (`cf_` + 5). */
export const DISPLAY_PREFIX_LENGTH = 8;
// 'cf_' + 43 base64url characters (32 bytes, unpadded).
const KEY_PATTERN = /^cf_[A-Za-z0-9_-]{43}$/;
// Writing last_used_at on every request would make each read a write; once a minute is enough to show use.
const TOUCH_INTERVAL_MS = 60_000;

export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** SHA-256 hex: what the store keeps. A fast hash is right here: keys are 256 random bits, not passwords. */
export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function apiKeyDisplayPrefix(secret: string): string {
  return secret.slice(0, DISPLAY_PREFIX_LENGTH);
}

export class UnauthorizedError extends Error {
  readonly code = 'UNAUTHORIZED';
  readonly statusCode = 401;
  constructor() {
    super('Missing, invalid or revoked API key');
    this.name = 'UnauthorizedError';
  }
}

export interface Principal {
  workspace: Workspace;
  key: ApiKeyInfo;
}

/** The token of an `Authorization: Bearer <key>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) {
    return null;
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

/**
 * Resolves a presented key to its workspace, or throws UnauthorizedError (unknown, malformed or revoked,
 * all alike). Updates the key's last use at most once a minute.
 */
export async function verifyApiKey(
  store: Store,
  presented: string | null | undefined,
  now = new Date()
): Promise<Principal> {
  if (typeof presented !== 'string' || !KEY_PATTERN.test(presented)) {
    throw new UnauthorizedError();
  }
  const hash = hashApiKey(presented);
  const match = await store.findApiKeyByHash(hash);
  if (!match) {
    throw new UnauthorizedError();
  }
  // The lookup was by hash already; the constant-time check guards against an index or collation that
  // matched loosely, without leaking how much of the hash agreed.
  const expected = Buffer.from(match.key.hash, 'hex');
  const actual = Buffer.from(hash, 'hex');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new UnauthorizedError();
  }
  if (match.key.revokedAt) {
    throw new UnauthorizedError();
  }
  const { hash: _hash, ...key } = match.key;
  if (
    !key.lastUsedAt ||
    now.getTime() - key.lastUsedAt.getTime() >= TOUCH_INTERVAL_MS
  ) {
    await store.touchApiKey(key.id, now);
    key.lastUsedAt = now;
  }
  return { workspace: match.workspace, key };
}
