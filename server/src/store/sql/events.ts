/** Event rows: written in the same transaction as the change they describe, read in id order. */
import { and, asc, desc, eq, sql, type SQL } from 'drizzle-orm';

import { events, flowRuns } from '../schema.js';
import type { FlowRunState } from '../states.js';
import type {
  CellflowEvent,
  ListEventsQuery,
  NewEvent,
  TransitionOptions
} from '../store.js';
import { clampLimit, requireText, type Db } from './common.js';
import { enqueueRunNotifications } from './notifications.js';

const DEFAULT_EVENT_PAGE = 1000;
const MAX_EVENT_PAGE = 10_000;

export async function insertEvent(
  db: Db,
  event: NewEvent
): Promise<CellflowEvent> {
  requireText('Event type', event.type);
  const [row] = await db
    .insert(events)
    .values({
      workspaceId: event.workspaceId,
      flowId: event.flowId ?? null,
      flowRunId: event.flowRunId ?? null,
      type: event.type,
      payload: event.payload ?? {}
    })
    .returning();
  return row;
}

/**
 * Every change of a run's state comes through here (transitions, claims, crashes, Late marking), so
 * this is also where the notifications the new state calls for are queued, in the same transaction.
 */
export async function insertRunStateEvent(
  db: Db,
  run: typeof flowRuns.$inferSelect,
  from: string,
  options: TransitionOptions<FlowRunState>
): Promise<CellflowEvent> {
  await enqueueRunNotifications(db, run);
  return insertEvent(db, {
    workspaceId: run.workspaceId,
    flowId: run.flowId,
    flowRunId: run.id,
    type: 'flow_run.state',
    payload: {
      from,
      to: run.state,
      reason: options.reason ?? null,
      error: run.error ?? null
    }
  });
}

/**
 * A workspace's events after a cursor, in the order they became visible (see migration 0009): held back
 * while an older transaction is still open, then ordered by (tx_id, id). The cursor is an event id, and
 * "after it" means after its place in that order; a cursor whose event is gone (removed with its run)
 * falls back to the ids after it.
 */
export async function listEvents(
  db: Db,
  query: ListEventsQuery
): Promise<CellflowEvent[]> {
  const limit = clampLimit(query.limit, DEFAULT_EVENT_PAGE, MAX_EVENT_PAGE);
  const conditions: SQL[] = [
    eq(events.workspaceId, query.workspaceId),
    // Hold back events of transactions newer than the oldest one still open: one of those could
    // yet commit an event that belongs before them.
    sql`"events"."tx_id" < pg_snapshot_xmin(pg_current_snapshot())`
  ];
  if (query.afterId) {
    conditions.push(sql`(
      ("events"."tx_id", "events"."id") >
        (SELECT "cursor"."tx_id", "cursor"."id" FROM "events" AS "cursor" WHERE "cursor"."id" = ${query.afterId})
      OR (
        NOT EXISTS (SELECT 1 FROM "events" AS "cursor" WHERE "cursor"."id" = ${query.afterId})
        AND "events"."id" > ${query.afterId}
      )
    )`);
  }
  if (query.flowId !== undefined) {
    conditions.push(eq(events.flowId, query.flowId));
  }
  if (query.flowRunId !== undefined) {
    conditions.push(eq(events.flowRunId, query.flowRunId));
  }
  return db
    .select()
    .from(events)
    .where(and(...conditions))
    .orderBy(sql`"events"."tx_id"`, asc(events.id))
    .limit(limit);
}

/** The last event of the workspace in listEvents' order among those it would return now (0: none). */
export async function latestEventId(
  db: Db,
  workspaceId: string
): Promise<number> {
  const [row] = await db
    .select({ id: events.id })
    .from(events)
    .where(
      and(
        eq(events.workspaceId, workspaceId),
        sql`"events"."tx_id" < pg_snapshot_xmin(pg_current_snapshot())`
      )
    )
    .orderBy(sql`"events"."tx_id" DESC`, desc(events.id))
    .limit(1);
  return row?.id ?? 0;
}
