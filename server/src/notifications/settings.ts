/**
 * The server's notification settings, from its options or else its environment: the SMTP server
 * e-mail goes through, the sender address, a send's timeout and the attempts per delivery. Checked
 * before anything starts; a bad SMTP URL is refused without repeating it (it may hold a password).
 */
import { hostname } from 'node:os';

import type { SmtpSettings } from './senders.js';

export const SMTP_URL_ENV = 'CELLFLOW_SMTP_URL';
export const SMTP_FROM_ENV = 'CELLFLOW_SMTP_FROM';
/** A send's timeout in milliseconds: bounds and default. */
export const SEND_TIMEOUT_MS = { min: 1000, max: 60_000, default: 10_000 };

export interface NotificationSettingsInput {
  smtpUrl?: string;
  smtpFrom?: string;
  sendTimeoutMs?: number;
  env: NodeJS.ProcessEnv;
}

export interface NotificationSettings {
  smtp: SmtpSettings | null;
  timeoutMs: number;
}

export function resolveNotificationSettings(
  input: NotificationSettingsInput
): NotificationSettings {
  const url = input.smtpUrl ?? (input.env[SMTP_URL_ENV] || undefined);
  const urlSetting = input.smtpUrl ? '--smtp-url' : SMTP_URL_ENV;
  let smtp: SmtpSettings | null = null;
  if (url) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(url);
    } catch {
      parsed = null;
    }
    if (
      !parsed ||
      !['smtp:', 'smtps:'].includes(parsed.protocol) ||
      !parsed.hostname
    ) {
      throw new Error(
        `${urlSetting} must be smtp://[user:password@]host[:port] or smtps://...`
      );
    }
    const from =
      input.smtpFrom ??
      (input.env[SMTP_FROM_ENV] || undefined) ??
      `cellflow@${hostname()}`;
    if (!/^[^\s@<>,;"]+@[^\s@<>,;"]+$/.test(from) || from.length > 254) {
      throw new Error(
        `${input.smtpFrom ? '--smtp-from' : SMTP_FROM_ENV} must be one e-mail address, got ${JSON.stringify(from)}`
      );
    }
    smtp = { url, from };
  }
  const timeoutMs = input.sendTimeoutMs ?? SEND_TIMEOUT_MS.default;
  if (
    !Number.isInteger(timeoutMs) ||
    timeoutMs < SEND_TIMEOUT_MS.min ||
    timeoutMs > SEND_TIMEOUT_MS.max
  ) {
    throw new Error(
      `the notification send timeout must be ${SEND_TIMEOUT_MS.min} to ${SEND_TIMEOUT_MS.max} ms, got ${timeoutMs}`
    );
  }
  return { smtp, timeoutMs };
}
