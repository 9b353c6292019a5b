/**
 * Sends one notice to one destination, within a timeout, and says why it failed in words that never
 * contain the destination (its URL, secret or address): failures are stored and listed.
 */
import { createHmac } from 'node:crypto';

import nodemailer from 'nodemailer';

import { VERSION } from '../version.js';
import {
  emailMessage,
  slackBody,
  webhookBody,
  type RunNotice
} from './message.js';
import type { NotificationTarget } from './targets.js';

/** The SMTP server e-mail goes through (`--smtp-url`, `--smtp-from`, or CELLFLOW_SMTP_URL / _FROM). */
export interface SmtpSettings {
  /** smtp://user:pass@host:port or smtps://...; a secret (it may hold a password): never logged. */
  url: string;
  from: string;
}

export interface SendContext {
  timeoutMs: number;
  smtp: SmtpSettings | null;
}

/** A send that failed; its message is safe to store and show. */
export class SendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SendError';
  }
}

/** The header a generic webhook's body is signed in, as GitHub's `X-Hub-Signature-256`. */
export const SIGNATURE_HEADER = 'x-cellflow-signature-256';

/** `sha256=<hex HMAC-SHA256 of the exact body bytes>` with the destination's secret. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export async function sendNotice(
  target: NotificationTarget,
  notice: RunNotice,
  deliveryId: string,
  context: SendContext
): Promise<void> {
  try {
    switch (target.kind) {
      case 'slack':
        return await postJson(
          target.url,
          JSON.stringify(slackBody(notice)),
          {},
          context
        );
      case 'webhook': {
        const body = JSON.stringify(webhookBody(notice, deliveryId));
        return await postJson(
          target.url,
          body,
          {
            [SIGNATURE_HEADER]: signBody(target.secret, body),
            'x-cellflow-event': notice.event,
            'x-cellflow-delivery': deliveryId
          },
          context
        );
      }
      case 'email':
        return await sendEmail(target.to, notice, context);
    }
  } catch (error) {
    throw new SendError(scrub(describe(error, context), target));
  }
}

async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  context: SendContext
): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': `Cellflow/${VERSION}`,
      ...headers
    },
    body,
    // A redirect is a failure: following it would send the message (and signature) elsewhere.
    redirect: 'manual',
    signal: AbortSignal.timeout(context.timeoutMs)
  });
  // Not read: only the status matters, and a large answer must not hold the loop.
  await response.body?.cancel();
  if (response.status < 200 || response.status >= 300) {
    throw new SendError(`HTTP ${response.status}`);
  }
}

async function sendEmail(
  to: string,
  notice: RunNotice,
  context: SendContext
): Promise<void> {
  if (!context.smtp) {
    throw new SendError(
      'no SMTP server configured (cellflow server --smtp-url, or CELLFLOW_SMTP_URL)'
    );
  }
  const transport = nodemailer.createTransport({
    url: context.smtp.url,
    connectionTimeout: context.timeoutMs,
    greetingTimeout: context.timeoutMs,
    socketTimeout: context.timeoutMs
  });
  try {
    await transport.sendMail({
      from: context.smtp.from,
      to,
      ...emailMessage(notice)
    });
  } finally {
    transport.close();
  }
}

function describe(error: unknown, context: SendContext): string {
  if (error instanceof SendError) {
    return error.message;
  }
  const e = error as {
    name?: string;
    code?: string;
    cause?: { code?: string; message?: string };
    responseCode?: number;
    message?: string;
  };
  if (
    e?.name === 'TimeoutError' ||
    e?.name === 'AbortError' ||
    e?.code === 'ETIMEDOUT'
  ) {
    return `timed out after ${context.timeoutMs} ms`;
  }
  const code = e?.cause?.code ?? e?.code;
  if (e?.responseCode) {
    return `SMTP ${e.responseCode}${code ? ` (${code})` : ''}`;
  }
  if (code) {
    return `could not connect (${code})`;
  }
  // fetch's own failures say only "fetch failed"; the reason is their cause.
  if (e?.cause?.message) {
    return `could not connect (${e.cause.message})`;
  }
  return e?.message ?? String(error);
}

/** Removes the destination (and its parts) from a message, whatever a library put in it. */
function scrub(text: string, target: NotificationTarget): string {
  const parts =
    target.kind === 'email'
      ? [target.to]
      : target.kind === 'webhook'
        ? [target.url, target.secret, new URL(target.url).pathname]
        : [target.url, new URL(target.url).pathname];
  let out = text;
  for (const part of parts) {
    if (part.length > 1) {
      out = out.split(part).join('…');
    }
  }
  return out.slice(0, 500);
}
