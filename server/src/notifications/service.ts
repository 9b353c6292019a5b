/**
 * Notification rules for the API and the CLI: a destination is checked, sealed with the workspace
 * secrets key, and stored with its masked form; a test message is sent at once (not queued) so the
 * answer says whether the destination works.
 */
import { randomUUID } from 'node:crypto';

import {
  NOTIFICATION_EVENTS,
  type NotificationEvent,
  type NotificationKind
} from '../../../src/flow/notification-kinds.js';
import type { WorkspaceSecrets } from '../secrets/workspace-secrets.js';
import type { NotificationRule, Store } from '../store/store.js';
import type { RunNotice } from './message.js';
import { SendError, sendNotice, type SendContext } from './senders.js';
import {
  checkTarget,
  InvalidTargetError,
  maskTarget,
  parseTarget,
  serializeTarget,
  targetScope,
  type NotificationTarget
} from './targets.js';

/** Rules one workspace may have: each is checked on every run state change of the workspace. */
export const MAX_RULES_PER_WORKSPACE = 100;

export interface NewRuleInput {
  flowId: string | null;
  events: readonly string[];
  kind: NotificationKind;
  url?: unknown;
  secret?: unknown;
  email?: unknown;
}

export class NotificationService {
  constructor(
    private readonly store: Store,
    private readonly secrets: WorkspaceSecrets,
    readonly context: SendContext & { publicUrl: string | null }
  ) {}

  async addRule(
    workspaceId: string,
    input: NewRuleInput
  ): Promise<NotificationRule> {
    const events = checkEvents(input.events);
    const target = checkTarget(input.kind, input);
    if (target.kind === 'email' && !this.context.smtp) {
      throw new InvalidTargetError(
        'email',
        'this server has no SMTP server to send e-mail through (cellflow server --smtp-url, or CELLFLOW_SMTP_URL)'
      );
    }
    const existing = await this.store.listNotificationRules(workspaceId);
    if (existing.length >= MAX_RULES_PER_WORKSPACE) {
      throw new InvalidTargetError(
        'kind',
        `a workspace has at most ${MAX_RULES_PER_WORKSPACE} notification rules; remove one first`
      );
    }
    const id = randomUUID();
    return this.store.createNotificationRule({
      id,
      workspaceId,
      flowId: input.flowId,
      events,
      kind: target.kind,
      targetCiphertext: this.secrets.sealValue(
        workspaceId,
        targetScope(id),
        serializeTarget(target)
      ),
      targetMasked: maskTarget(target)
    });
  }

  /** Opens a rule's sealed destination (SecretDecryptError when the secrets key changed). */
  openTarget(
    workspaceId: string,
    ruleId: string,
    ciphertext: string
  ): NotificationTarget {
    return parseTarget(
      this.secrets.openValue(workspaceId, targetScope(ruleId), ciphertext)
    );
  }

  /** Sends a test message now; null when it arrived, else why not (never the destination). */
  async test(
    workspaceId: string,
    ruleId: string
  ): Promise<{ rule: NotificationRule; error: string | null } | null> {
    const rule = await this.store.getNotificationRuleSecret(
      workspaceId,
      ruleId
    );
    if (!rule) {
      return null;
    }
    const { targetCiphertext, ...shown } = rule;
    const flow = rule.flowId
      ? await this.store.getFlow(workspaceId, rule.flowId)
      : null;
    const notice: RunNotice = {
      event: 'Test',
      flowId: rule.flowId,
      flowName: flow ? `flow ${flow.name}` : 'every flow of the workspace',
      runId: null,
      state: null,
      failedTask: null,
      errorLine: null,
      reason: null,
      scheduledAt: null,
      startedAt: null,
      endedAt: null,
      // No run to open.
      link: null
    };
    try {
      const target = this.openTarget(workspaceId, rule.id, targetCiphertext);
      await sendNotice(target, notice, `test-${randomUUID()}`, this.context);
      return { rule: shown, error: null };
    } catch (error) {
      return {
        rule: shown,
        error:
          error instanceof SendError
            ? error.message
            : 'the destination could not be read (was the secrets key changed?)'
      };
    }
  }
}

/** The events, each known, none twice; InvalidTargetError naming `events` otherwise. */
export function checkEvents(events: readonly string[]): NotificationEvent[] {
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidTargetError(
      'events',
      `events must name at least one of ${NOTIFICATION_EVENTS.join(', ')}`
    );
  }
  const known = new Set<string>(NOTIFICATION_EVENTS);
  const out: NotificationEvent[] = [];
  for (const event of events) {
    if (!known.has(event)) {
      throw new InvalidTargetError(
        'events',
        `events: unknown event ${JSON.stringify(event)}; use ${NOTIFICATION_EVENTS.join(', ')}`
      );
    }
    if (!out.includes(event as NotificationEvent)) {
      out.push(event as NotificationEvent);
    }
  }
  return out;
}
