/** What every query module shares: the database handle type, row casts, validation and scoping checks. */
import { and, eq } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

import { NotFoundError } from '../errors.js';
import {
  flowRuns,
  taskAttempts,
  taskRuns,
  workspaces,
  type Schema
} from '../schema.js';
import type { FlowRun, TaskAttempt, TaskRun } from '../store.js';

/** A drizzle database or transaction; both back ends run the same queries through it. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

// The state columns are text in SQL; states.ts guarantees only known states are ever written.
export const asRun = (row: typeof flowRuns.$inferSelect): FlowRun =>
  row as FlowRun;
export const asTaskRun = (row: typeof taskRuns.$inferSelect): TaskRun =>
  row as TaskRun;
export const asAttempt = (row: typeof taskAttempts.$inferSelect): TaskAttempt =>
  row as TaskAttempt;

export function requireText(what: string, value: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`${what} must be a non-empty string`);
  }
  return value;
}

export function clampLimit(
  limit: number | undefined,
  fallback: number,
  max: number
): number {
  if (limit === undefined) {
    return fallback;
  }
  if (!Number.isInteger(limit) || limit < 1) {
    throw new Error(`limit must be a positive whole number, got ${limit}`);
  }
  return Math.min(limit, max);
}

export async function requireWorkspace(
  db: Db,
  workspaceId: string
): Promise<void> {
  const [row] = await db
    .select({ id: workspaces.id })
    .from(workspaces)
    .where(eq(workspaces.id, workspaceId));
  if (!row) {
    throw new NotFoundError('Workspace', workspaceId);
  }
}

export async function requireRun(
  db: Db,
  workspaceId: string,
  runId: string
): Promise<void> {
  const [row] = await db
    .select({ id: flowRuns.id })
    .from(flowRuns)
    .where(and(eq(flowRuns.id, runId), eq(flowRuns.workspaceId, workspaceId)));
  if (!row) {
    throw new NotFoundError('Flow run', runId);
  }
}
