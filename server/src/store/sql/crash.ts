/**
 * Crash recovery: runs left Running by a server that stopped (or a worker whose lease ran out) become
 * Crashed, and so do their running or waiting tasks; tasks not yet begun are Cancelled. All in one
 * transaction, each change with its event.
 */
import { and, asc, eq, inArray, isNotNull, lte, type SQL } from 'drizzle-orm';

import { flowRuns, taskAttempts, taskRuns } from '../schema.js';
import {
  assertFlowRunTransition,
  assertTaskRunTransition,
  isActiveTaskRunState,
  type TaskRunState
} from '../states.js';
import type { CrashFilter, FlowRun } from '../store.js';
import { asRun, requireText, type Db } from './common.js';
import { insertEvent, insertRunStateEvent } from './events.js';

type RunRow = typeof flowRuns.$inferSelect;

export async function crashRunningRuns(
  db: Db,
  reason: string,
  filter: CrashFilter
): Promise<FlowRun[]> {
  requireText('Crash reason', reason);
  assertFlowRunTransition('(crash)', 'Running', 'Crashed');
  const conditions: SQL[] = [eq(flowRuns.state, 'Running')];
  if (filter.leaseOwner !== undefined) {
    conditions.push(eq(flowRuns.leaseOwner, filter.leaseOwner));
  }
  if (filter.leaseOwners !== undefined) {
    if (filter.leaseOwners.length === 0) {
      return [];
    }
    conditions.push(inArray(flowRuns.leaseOwner, filter.leaseOwners));
  }
  if (filter.leaseExpiredBefore !== undefined) {
    conditions.push(lte(flowRuns.leaseExpiresAt, filter.leaseExpiredBefore));
  }
  const now = new Date();
  const crashed = await db
    .update(flowRuns)
    .set({
      state: 'Crashed',
      stateReason: reason,
      endedAt: now,
      leaseOwner: null,
      leaseExpiresAt: null
    })
    .where(and(...conditions))
    .returning();
  for (const run of crashed) {
    await insertRunStateEvent(db, run, 'Running', { reason });
  }
  if (crashed.length > 0) {
    await endOpenTasks(db, crashed, reason, now);
  }
  return crashed.map(asRun);
}

export async function listRunningLeaseOwners(db: Db): Promise<string[]> {
  const rows = await db
    .selectDistinct({ owner: flowRuns.leaseOwner })
    .from(flowRuns)
    .where(and(eq(flowRuns.state, 'Running'), isNotNull(flowRuns.leaseOwner)));
  return rows.map(r => r.owner!).sort();
}

async function endOpenTasks(
  db: Db,
  runs: RunRow[],
  reason: string,
  now: Date
): Promise<void> {
  const open = await db
    .select()
    .from(taskRuns)
    .where(
      and(
        inArray(
          taskRuns.flowRunId,
          runs.map(r => r.id)
        ),
        inArray(taskRuns.state, [
          'Pending',
          'Running',
          'Retrying',
          'AwaitingRetry'
        ])
      )
    )
    .orderBy(asc(taskRuns.flowRunId), asc(taskRuns.position));
  for (const task of open) {
    const to: TaskRunState = task.state === 'Pending' ? 'Cancelled' : 'Crashed';
    assertTaskRunTransition(task.id, task.state, to);
    const [updated] = await db
      .update(taskRuns)
      .set({
        state: to,
        stateReason: reason,
        endedAt: now,
        error: to === 'Crashed' ? reason : null
      })
      .where(and(eq(taskRuns.id, task.id), eq(taskRuns.state, task.state)))
      .returning();
    if (!updated) {
      continue;
    }
    if (isActiveTaskRunState(task.state as TaskRunState)) {
      await db
        .update(taskAttempts)
        .set({ state: 'Crashed', endedAt: now })
        .where(
          and(
            eq(taskAttempts.taskRunId, task.id),
            eq(taskAttempts.attempt, task.attempts)
          )
        );
    }
    const run = runs.find(r => r.id === task.flowRunId)!;
    await insertEvent(db, {
      workspaceId: run.workspaceId,
      flowId: run.flowId,
      flowRunId: run.id,
      type: 'task_run.state',
      payload: {
        taskRunId: task.id,
        taskName: task.taskName,
        from: task.state,
        to,
        attempt: task.attempts,
        reason,
        error: updated.error
      }
    });
  }
}
