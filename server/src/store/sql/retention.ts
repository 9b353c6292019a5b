/**
 * Retention: removes ended runs older than a time, or beyond the newest N runs of their flow, with
 * everything that hangs off them (task runs, attempts and their outputs, log lines and the executed
 * notebook go by ON DELETE CASCADE; the runs' events and ended notification deliveries are deleted
 * here). A run that has not ended
 * (Scheduled, Late, Pending, Running) is never removed, whatever its age or rank.
 *
 * One call removes at most `batch` runs, so a first pass over a long history is many short
 * transactions instead of one that holds its locks for minutes.
 */
import { and, inArray, sql } from 'drizzle-orm';

import { events, flowRuns, notificationDeliveries } from '../schema.js';
import type { PruneRunsPolicy } from '../store.js';
import type { Db } from './common.js';

const ENDED_STATES = ['Completed', 'Failed', 'Crashed', 'Cancelled', 'Skipped'];

export async function pruneRuns(
  db: Db,
  policy: PruneRunsPolicy,
  batch: number
): Promise<string[]> {
  const { endedBefore, keepPerFlow, workspaceId } = policy;
  if (endedBefore === undefined && keepPerFlow === undefined) {
    return [];
  }
  const old =
    endedBefore === undefined
      ? sql`false`
      : sql`r.ended_at < ${endedBefore.toISOString()}::timestamptz`;
  // Rank among all the flow's runs, newest first: "the last N" counts the runs still to come too.
  const beyond =
    keepPerFlow === undefined ? sql`false` : sql`r.rank > ${keepPerFlow}`;
  const result = await db.execute(sql`
    SELECT r.id FROM (
      SELECT id, state, ended_at,
             row_number() OVER (PARTITION BY flow_id ORDER BY seq DESC) AS rank
      FROM flow_runs
      ${workspaceId === undefined ? sql`` : sql`WHERE workspace_id = ${workspaceId}`}
    ) r
    WHERE r.state IN (${sql.join(
      ENDED_STATES.map(s => sql`${s}`),
      sql`, `
    )})
      AND (${old} OR ${beyond})
    LIMIT ${batch}
  `);
  const rows = (result as unknown as { rows: { id: string }[] }).rows;
  const ids = rows.map(row => row.id);
  if (ids.length === 0) {
    return [];
  }
  await db.delete(events).where(inArray(events.flowRunId, ids));
  // Notifications already sent or given up go with their run; one still waiting is sent first.
  await db
    .delete(notificationDeliveries)
    .where(
      and(
        inArray(notificationDeliveries.flowRunId, ids),
        inArray(notificationDeliveries.state, ['Delivered', 'Failed'])
      )
    );
  await db.delete(flowRuns).where(inArray(flowRuns.id, ids));
  return ids;
}
