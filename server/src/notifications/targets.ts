/**
 * A notification's destination: checked, masked for display, and sealed for the store. The URL of a
 * webhook (Slack's carry their token in the path), its signing secret and an e-mail address are
 * secrets: they are sealed with the workspace secrets key and only their masked form is ever shown.
 */
import type { NotificationKind } from '../../../src/flow/notification-kinds.js';

export type NotificationTarget =
  | { kind: 'slack'; url: string }
  | { kind: 'webhook'; url: string; secret: string }
  | { kind: 'email'; to: string };

export const MAX_URL_LENGTH = 2048;
/** A signing secret: long enough to resist guessing, short enough for a header's HMAC key. */
export const MIN_SECRET_LENGTH = 8;
export const MAX_SECRET_LENGTH = 256;
export const MAX_EMAIL_LENGTH = 254;
// Deliberately plain: one @, no spaces or angle brackets (which would let a value add recipients).
const EMAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;

/** A destination refused; `field` is the request field to name in the 400 (never the value). */
export class InvalidTargetError extends Error {
  readonly code = 'INVALID_NOTIFICATION';
  constructor(
    readonly field: string,
    message: string
  ) {
    super(message);
    this.name = 'InvalidTargetError';
  }
}

function checkUrl(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidTargetError(field, `${field} must be an http(s) URL`);
  }
  if (value.length > MAX_URL_LENGTH) {
    throw new InvalidTargetError(
      field,
      `${field} must be at most ${MAX_URL_LENGTH} characters`
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidTargetError(field, `${field} must be an http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidTargetError(field, `${field} must be an http(s) URL`);
  }
  return url.toString();
}

/** The destination in `input` for `kind`, checked; InvalidTargetError naming the field otherwise. */
export function checkTarget(
  kind: NotificationKind,
  input: { url?: unknown; secret?: unknown; email?: unknown }
): NotificationTarget {
  switch (kind) {
    case 'slack':
      return { kind, url: checkUrl(input.url, 'url') };
    case 'webhook': {
      const url = checkUrl(input.url, 'url');
      const secret = input.secret;
      if (
        typeof secret !== 'string' ||
        secret.length < MIN_SECRET_LENGTH ||
        secret.length > MAX_SECRET_LENGTH
      ) {
        throw new InvalidTargetError(
          'secret',
          `secret must be ${MIN_SECRET_LENGTH} to ${MAX_SECRET_LENGTH} characters (it signs each message)`
        );
      }
      return { kind, url, secret };
    }
    case 'email': {
      const to = input.email;
      if (
        typeof to !== 'string' ||
        to.length > MAX_EMAIL_LENGTH ||
        !EMAIL.test(to)
      ) {
        throw new InvalidTargetError(
          'email',
          'email must be one e-mail address (name@domain)'
        );
      }
      return { kind, to };
    }
  }
}

/** What may be shown: the scheme and host of a URL (never its path, where tokens live), or o…@domain. */
export function maskTarget(target: NotificationTarget): string {
  if (target.kind === 'email') {
    const at = target.to.lastIndexOf('@');
    return `${target.to[0]}…${target.to.slice(at)}`;
  }
  const url = new URL(target.url);
  return `${url.protocol}//${url.host}/…`;
}

/** The destination as sealed: JSON, so the kind travels with it. */
export function serializeTarget(target: NotificationTarget): string {
  return JSON.stringify(target);
}

export function parseTarget(text: string): NotificationTarget {
  const value = JSON.parse(text) as NotificationTarget;
  if (!value || typeof value !== 'object' || !('kind' in value)) {
    throw new Error('not a notification destination');
  }
  return value;
}

/** The store's scope for a rule's sealed destination (associated data: it opens for that rule only). */
export const targetScope = (ruleId: string) => `notification-rule:${ruleId}`;
