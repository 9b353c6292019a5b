/** A run's log lines and its executed notebook. Reads are scoped to the caller's workspace. */
import { and, asc, eq, gt, type SQL } from 'drizzle-orm';

import { executedNotebooks, flowRuns, logLines } from '../schema.js';
import type { LogLine, NewLogLine } from '../store.js';
import { clampLimit, requireRun, type Db } from './common.js';

const MAX_LOG_PAGE = 10_000;

export async function appendLogLines(
  db: Db,
  lines: NewLogLine[]
): Promise<LogLine[]> {
  if (lines.length === 0) {
    return [];
  }
  return db
    .insert(logLines)
    .values(
      lines.map(l => ({
        flowRunId: l.flowRunId,
        taskName: l.taskName ?? null,
        attempt: l.attempt ?? null,
        stream: l.stream,
        text: l.text,
        ...(l.at ? { at: l.at } : {})
      }))
    )
    .returning();
}

export async function listLogLines(
  db: Db,
  workspaceId: string,
  flowRunId: string,
  query: { taskName?: string; afterId?: number; limit?: number }
): Promise<LogLine[]> {
  const limit = clampLimit(query.limit, MAX_LOG_PAGE, MAX_LOG_PAGE);
  await requireRun(db, workspaceId, flowRunId);
  const conditions: SQL[] = [eq(logLines.flowRunId, flowRunId)];
  if (query.taskName !== undefined) {
    conditions.push(eq(logLines.taskName, query.taskName));
  }
  if (query.afterId !== undefined) {
    conditions.push(gt(logLines.id, query.afterId));
  }
  return db
    .select()
    .from(logLines)
    .where(and(...conditions))
    .orderBy(asc(logLines.id))
    .limit(limit);
}

export async function saveExecutedNotebook(
  db: Db,
  flowRunId: string,
  notebook: unknown
): Promise<void> {
  const savedAt = new Date();
  await db
    .insert(executedNotebooks)
    .values({ flowRunId, notebook, savedAt })
    .onConflictDoUpdate({
      target: executedNotebooks.flowRunId,
      set: { notebook, savedAt }
    });
}

export async function getExecutedNotebook(
  db: Db,
  workspaceId: string,
  flowRunId: string
): Promise<unknown | null> {
  const [row] = await db
    .select({ notebook: executedNotebooks.notebook })
    .from(executedNotebooks)
    .innerJoin(flowRuns, eq(flowRuns.id, executedNotebooks.flowRunId))
    .where(
      and(eq(flowRuns.id, flowRunId), eq(flowRuns.workspaceId, workspaceId))
    );
  return row ? row.notebook : null;
}
