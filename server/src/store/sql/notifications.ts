/**
 * Notification rules and their deliveries. A delivery is queued by enqueueRunNotifications in the same
 * transaction as the run's state change (events.ts calls it with the run's event), unique per (rule,
 * run, event) so a repeated change or a restart never queues it twice; the delivery loop claims due
 * rows with FOR UPDATE SKIP LOCKED (several servers on one PostgreSQL each take different rows) and
 * records each outcome.
 */
import {
  and,
  asc,
  desc,
  eq,
  inArray,
  lte,
  or,
  sql,
  type SQL
} from 'drizzle-orm';

import type { NotificationEvent } from '../../../../src/flow/notification-kinds.js';
import {
  flowRuns,
  notificationDeliveries,
  notificationRules
} from '../schema.js';
import type {
  ClaimedDelivery,
  DeliveryOutcome,
  ListDeliveriesQuery,
  NewNotificationRule,
  NotificationDelivery,
  NotificationRule,
  NotificationRuleSecret
} from '../store.js';
import {
  clampLimit,
  requireText,
  requireWorkspace,
  type Db
} from './common.js';

type RunRow = typeof flowRuns.$inferSelect;

const DEFAULT_DELIVERY_PAGE = 50;
const MAX_DELIVERY_PAGE = 500;
/** Failed attempts kept per delivery: the latest ones say why it keeps failing. */
export const KEPT_FAILURES = 10;

const ruleColumns = {
  id: notificationRules.id,
  workspaceId: notificationRules.workspaceId,
  flowId: notificationRules.flowId,
  events: notificationRules.events,
  kind: notificationRules.kind,
  targetMasked: notificationRules.targetMasked,
  createdAt: notificationRules.createdAt
};

const asRule = (row: Record<string, unknown>) =>
  row as unknown as NotificationRule;

export async function createRule(
  db: Db,
  input: NewNotificationRule
): Promise<NotificationRule> {
  requireText('Rule id', input.id);
  requireText('Rule target', input.targetCiphertext);
  await requireWorkspace(db, input.workspaceId);
  const [row] = await db
    .insert(notificationRules)
    .values({
      id: input.id,
      workspaceId: input.workspaceId,
      flowId: input.flowId,
      events: [...input.events],
      kind: input.kind,
      targetCiphertext: input.targetCiphertext,
      targetMasked: input.targetMasked
    })
    .returning(ruleColumns);
  return asRule(row);
}

export async function listRules(
  db: Db,
  workspaceId: string,
  flowId?: string
): Promise<NotificationRule[]> {
  const conditions: SQL[] = [eq(notificationRules.workspaceId, workspaceId)];
  if (flowId !== undefined) {
    conditions.push(eq(notificationRules.flowId, flowId));
  }
  const rows = await db
    .select(ruleColumns)
    .from(notificationRules)
    .where(and(...conditions))
    .orderBy(asc(notificationRules.createdAt), asc(notificationRules.id));
  return rows.map(asRule);
}

/** With the sealed destination: for a test message. */
export async function getRuleSecret(
  db: Db,
  workspaceId: string,
  ruleId: string
): Promise<NotificationRuleSecret | null> {
  const [row] = await db
    .select({
      ...ruleColumns,
      targetCiphertext: notificationRules.targetCiphertext
    })
    .from(notificationRules)
    .where(
      and(
        eq(notificationRules.id, ruleId),
        eq(notificationRules.workspaceId, workspaceId)
      )
    );
  return row ? (row as unknown as NotificationRuleSecret) : null;
}

export async function deleteRule(
  db: Db,
  workspaceId: string,
  ruleId: string
): Promise<boolean> {
  const rows = await db
    .delete(notificationRules)
    .where(
      and(
        eq(notificationRules.id, ruleId),
        eq(notificationRules.workspaceId, workspaceId)
      )
    )
    .returning({ id: notificationRules.id });
  return rows.length > 0;
}

/** The events a run's new state is, for rules: none for states no rule can ask for. */
async function runEvents(
  db: Db,
  run: RunRow,
  wanted: Set<string>
): Promise<NotificationEvent[]> {
  switch (run.state) {
    case 'Failed':
    case 'Crashed':
    case 'Late':
      return [run.state];
    case 'Completed': {
      const found: NotificationEvent[] = ['Completed'];
      if (wanted.has('Recovered') && (await previousRunFailed(db, run))) {
        found.push('Recovered');
      }
      return found;
    }
    default:
      return [];
  }
}

/** Whether the flow's ended run before this one (Cancelled and Skipped ones aside) Failed or Crashed. */
async function previousRunFailed(db: Db, run: RunRow): Promise<boolean> {
  const [previous] = await db
    .select({ state: flowRuns.state })
    .from(flowRuns)
    .where(
      and(
        eq(flowRuns.flowId, run.flowId),
        inArray(flowRuns.state, ['Completed', 'Failed', 'Crashed']),
        sql`${flowRuns.id} <> ${run.id}`,
        sql`${flowRuns.endedAt} IS NOT NULL`
      )
    )
    .orderBy(desc(flowRuns.endedAt), desc(flowRuns.seq))
    .limit(1);
  return previous?.state === 'Failed' || previous?.state === 'Crashed';
}

/**
 * Queues a delivery for every rule of the run's workspace (and flow) that asks for the event its new
 * state is. Call in the transaction that changed the state, so the two commit together or not at all.
 */
export async function enqueueRunNotifications(
  db: Db,
  run: RunRow
): Promise<void> {
  if (!['Failed', 'Crashed', 'Late', 'Completed'].includes(run.state)) {
    return;
  }
  // In a savepoint: should queueing fail, the run's state change still commits (a notification is
  // never worth failing the run over); the warning says which run went unannounced.
  try {
    await db.transaction(sp => queueFor(sp as unknown as Db, run));
  } catch (error) {
    process.emitWarning(
      `notifications for run ${run.id} (${run.state}) were not queued: ${reasonOf(error)}`,
      'CellflowNotificationWarning'
    );
  }
}

/** The database's own words (drizzle wraps them in the whole query text), one line. */
function reasonOf(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string } };
  return (e?.cause?.message ?? e?.message ?? String(error)).split('\n')[0];
}

async function queueFor(db: Db, run: RunRow): Promise<void> {
  const rules = await db
    .select({ events: notificationRules.events })
    .from(notificationRules)
    .where(
      and(
        eq(notificationRules.workspaceId, run.workspaceId),
        or(
          sql`${notificationRules.flowId} IS NULL`,
          eq(notificationRules.flowId, run.flowId)
        )
      )
    );
  const wanted = new Set(rules.flatMap(r => r.events));
  if (wanted.size === 0) {
    return;
  }
  for (const event of await runEvents(db, run, wanted)) {
    if (!wanted.has(event)) {
      continue;
    }
    await db.execute(sql`
      INSERT INTO notification_deliveries (id, rule_id, workspace_id, flow_id, flow_run_id, event)
      SELECT gen_random_uuid()::text, r.id, r.workspace_id, ${run.flowId}, ${run.id}, ${event}
      FROM notification_rules r
      WHERE r.workspace_id = ${run.workspaceId}
        AND (r.flow_id IS NULL OR r.flow_id = ${run.flowId})
        AND ${event} = ANY(r.events)
      ON CONFLICT ON CONSTRAINT notification_deliveries_once_key DO NOTHING`);
  }
}

const deliveryColumns = {
  id: notificationDeliveries.id,
  seq: notificationDeliveries.seq,
  ruleId: notificationDeliveries.ruleId,
  workspaceId: notificationDeliveries.workspaceId,
  flowId: notificationDeliveries.flowId,
  flowRunId: notificationDeliveries.flowRunId,
  event: notificationDeliveries.event,
  state: notificationDeliveries.state,
  attempts: notificationDeliveries.attempts,
  nextAttemptAt: notificationDeliveries.nextAttemptAt,
  lastError: notificationDeliveries.lastError,
  failures: notificationDeliveries.failures,
  createdAt: notificationDeliveries.createdAt,
  deliveredAt: notificationDeliveries.deliveredAt,
  kind: notificationRules.kind,
  targetMasked: notificationRules.targetMasked
};

export async function listDeliveries(
  db: Db,
  query: ListDeliveriesQuery
): Promise<NotificationDelivery[]> {
  const limit = clampLimit(
    query.limit,
    DEFAULT_DELIVERY_PAGE,
    MAX_DELIVERY_PAGE
  );
  const conditions: SQL[] = [
    eq(notificationDeliveries.workspaceId, query.workspaceId)
  ];
  if (query.flowId !== undefined) {
    conditions.push(eq(notificationDeliveries.flowId, query.flowId));
  }
  if (query.flowRunId !== undefined) {
    conditions.push(eq(notificationDeliveries.flowRunId, query.flowRunId));
  }
  if (query.ruleId !== undefined) {
    conditions.push(eq(notificationDeliveries.ruleId, query.ruleId));
  }
  if (query.state !== undefined) {
    conditions.push(eq(notificationDeliveries.state, query.state));
  }
  const rows = await db
    .select(deliveryColumns)
    .from(notificationDeliveries)
    .innerJoin(
      notificationRules,
      eq(notificationRules.id, notificationDeliveries.ruleId)
    )
    .where(and(...conditions))
    .orderBy(desc(notificationDeliveries.seq))
    .limit(limit);
  return rows as unknown as NotificationDelivery[];
}

/**
 * Claims up to `limit` due deliveries: Pending ones whose time has come, and Sending ones whose
 * sender's lease ran out (it stopped mid-send). Each claim counts as an attempt.
 */
export async function claimDeliveries(
  db: Db,
  limit: number,
  leaseMs: number,
  now: Date
): Promise<ClaimedDelivery[]> {
  const due = await db
    .select({ id: notificationDeliveries.id })
    .from(notificationDeliveries)
    .where(
      or(
        and(
          eq(notificationDeliveries.state, 'Pending'),
          lte(notificationDeliveries.nextAttemptAt, now)
        ),
        and(
          eq(notificationDeliveries.state, 'Sending'),
          lte(notificationDeliveries.leaseExpiresAt, now)
        )
      )
    )
    .orderBy(asc(notificationDeliveries.nextAttemptAt))
    .limit(limit)
    .for('update', { skipLocked: true });
  if (due.length === 0) {
    return [];
  }
  const ids = due.map(d => d.id);
  await db
    .update(notificationDeliveries)
    .set({
      state: 'Sending',
      attempts: sql`${notificationDeliveries.attempts} + 1`,
      leaseExpiresAt: new Date(now.getTime() + leaseMs)
    })
    .where(inArray(notificationDeliveries.id, ids));
  const rows = await db
    .select({
      ...deliveryColumns,
      targetCiphertext: notificationRules.targetCiphertext
    })
    .from(notificationDeliveries)
    .innerJoin(
      notificationRules,
      eq(notificationRules.id, notificationDeliveries.ruleId)
    )
    .where(inArray(notificationDeliveries.id, ids))
    .orderBy(asc(notificationDeliveries.seq));
  return rows as unknown as ClaimedDelivery[];
}

/** Records a send's outcome: Delivered, or the failure and either the next try or giving up. */
export async function finishDelivery(
  db: Db,
  id: string,
  outcome: DeliveryOutcome,
  now: Date
): Promise<void> {
  if (outcome.ok) {
    await db
      .update(notificationDeliveries)
      .set({
        state: 'Delivered',
        deliveredAt: now,
        leaseExpiresAt: null,
        lastError: null
      })
      .where(eq(notificationDeliveries.id, id));
    return;
  }
  const [row] = await db
    .select({ failures: notificationDeliveries.failures })
    .from(notificationDeliveries)
    .where(eq(notificationDeliveries.id, id))
    .for('update');
  if (!row) {
    return;
  }
  const failures = [
    ...row.failures,
    { at: now.toISOString(), error: outcome.error }
  ].slice(-KEPT_FAILURES);
  await db
    .update(notificationDeliveries)
    .set({
      state: outcome.retryAt ? 'Pending' : 'Failed',
      nextAttemptAt: outcome.retryAt ?? now,
      leaseExpiresAt: null,
      lastError: outcome.error,
      failures
    })
    .where(eq(notificationDeliveries.id, id));
}
