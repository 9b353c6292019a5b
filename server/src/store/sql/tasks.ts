/**
 * Task runs and their attempts. Moving a task to Running or Retrying begins attempt N+1; leaving those
 * states ends the current attempt with the matching result, in the same transaction as the task's
 * conditional UPDATE and its event.
 */
import { randomUUID } from 'node:crypto';

import { and, eq, sql } from 'drizzle-orm';

import { NotFoundError, TransitionConflictError } from '../errors.js';
import { flowRuns, taskAttempts, taskRuns } from '../schema.js';
import {
  assertTaskRunTransition,
  isActiveTaskRunState,
  isTerminalTaskRunState,
  type TaskRunState
} from '../states.js';
import type {
  TaskAttempt,
  TaskAttemptState,
  TaskRun,
  TaskTransitionOptions,
  TaskTransitionResult,
  TaskTransitionStep
} from '../store.js';
import { asAttempt, asTaskRun, requireText, type Db } from './common.js';
import { insertEvent } from './events.js';

/** The attempt's own end state when its task run leaves Running/Retrying for `to`. */
function attemptEndState(to: TaskRunState): TaskAttemptState {
  switch (to) {
    case 'AwaitingRetry':
    case 'Failed':
      return 'Failed';
    case 'Completed':
    case 'Crashed':
    case 'Cancelled':
      return to;
    default:
      throw new Error(`A task attempt cannot end by moving to ${to}`);
  }
}

export async function createTaskRuns(
  db: Db,
  flowRunId: string,
  taskNames: string[]
): Promise<TaskRun[]> {
  taskNames.forEach(n => requireText('Task name', n));
  const [run] = await db
    .select()
    .from(flowRuns)
    .where(eq(flowRuns.id, flowRunId));
  if (!run) {
    throw new NotFoundError('Flow run', flowRunId);
  }
  if (taskNames.length === 0) {
    return [];
  }
  // New tasks go after any the run already has, so the run lists them in the order they were added.
  const [{ last }] = await db
    .select({
      last: sql<number>`coalesce(max(${taskRuns.position}), -1)`.mapWith(Number)
    })
    .from(taskRuns)
    .where(eq(taskRuns.flowRunId, flowRunId));
  const rows = await db
    .insert(taskRuns)
    .values(
      taskNames.map((taskName, i) => ({
        id: randomUUID(),
        flowRunId,
        taskName,
        position: last + 1 + i,
        state: 'Pending'
      }))
    )
    .returning();
  await insertEvent(db, {
    workspaceId: run.workspaceId,
    flowId: run.flowId,
    flowRunId,
    type: 'task_runs.created',
    payload: {
      tasks: rows.map(r => ({ taskRunId: r.id, taskName: r.taskName }))
    }
  });
  return rows.sort((a, b) => a.position - b.position).map(asTaskRun);
}

export async function transitionTaskRun(
  db: Db,
  taskRunId: string,
  to: TaskRunState,
  options: TaskTransitionOptions
): Promise<TaskTransitionResult> {
  const [row] = await db
    .select({
      task: taskRuns,
      workspaceId: flowRuns.workspaceId,
      flowId: flowRuns.flowId
    })
    .from(taskRuns)
    .innerJoin(flowRuns, eq(flowRuns.id, taskRuns.flowRunId))
    .where(eq(taskRuns.id, taskRunId));
  if (
    !row ||
    (options.workspaceId !== undefined &&
      row.workspaceId !== options.workspaceId)
  ) {
    throw new NotFoundError('Task run', taskRunId);
  }
  const current = row.task;
  const from = current.state;
  if (options.from !== undefined && options.from !== from) {
    throw new TransitionConflictError(
      'task_run',
      taskRunId,
      options.from,
      from
    );
  }
  assertTaskRunTransition(taskRunId, from, to);
  const now = options.at ?? new Date();
  const starts = isActiveTaskRunState(to);
  const ends = isActiveTaskRunState(from as TaskRunState);
  const terminal = isTerminalTaskRunState(to);
  const attemptError = options.attemptError ?? null;
  const error =
    options.error !== undefined
      ? options.error
      : attemptError
        ? `${attemptError.name}: ${attemptError.value}`
        : null;
  const [task] = await db
    .update(taskRuns)
    .set({
      state: to,
      stateReason: options.reason ?? null,
      ...(starts
        ? {
            attempts: sql`${taskRuns.attempts} + 1`,
            startedAt: current.startedAt ?? now,
            error: null
          }
        : {}),
      ...(to === 'AwaitingRetry' || terminal ? { error } : {}),
      ...(terminal ? { endedAt: now } : {})
    })
    .where(and(eq(taskRuns.id, taskRunId), eq(taskRuns.state, from)))
    .returning();
  if (!task) {
    const [latest] = await db
      .select({ state: taskRuns.state })
      .from(taskRuns)
      .where(eq(taskRuns.id, taskRunId));
    throw new TransitionConflictError(
      'task_run',
      taskRunId,
      from,
      latest?.state ?? null
    );
  }
  let attempt: TaskAttempt | null = null;
  if (ends) {
    const [ended] = await db
      .update(taskAttempts)
      .set({
        state: attemptEndState(to),
        endedAt: now,
        errorName: attemptError?.name ?? null,
        errorValue: attemptError?.value ?? null,
        traceback: attemptError?.traceback ?? null
      })
      .where(
        and(
          eq(taskAttempts.taskRunId, taskRunId),
          eq(taskAttempts.attempt, current.attempts)
        )
      )
      .returning();
    attempt = ended ? asAttempt(ended) : null;
  }
  if (starts) {
    const [begun] = await db
      .insert(taskAttempts)
      .values({
        id: randomUUID(),
        taskRunId,
        attempt: task.attempts,
        state: 'Running',
        startedAt: now
      })
      .returning();
    attempt = asAttempt(begun);
  }
  await insertEvent(db, {
    workspaceId: row.workspaceId,
    flowId: row.flowId,
    flowRunId: task.flowRunId,
    type: 'task_run.state',
    payload: {
      taskRunId,
      taskName: task.taskName,
      from,
      to,
      attempt: task.attempts,
      reason: options.reason ?? null,
      error: task.error,
      ...(options.retryAt && { retryAt: options.retryAt.toISOString() })
    }
  });
  return { taskRun: asTaskRun(task), attempt };
}

/** Transitions in order, in the caller's transaction. */
export async function transitionTaskRuns(
  db: Db,
  steps: TaskTransitionStep[]
): Promise<TaskTransitionResult[]> {
  const results: TaskTransitionResult[] = [];
  for (const step of steps) {
    results.push(
      await transitionTaskRun(db, step.taskRunId, step.to, step.options ?? {})
    );
  }
  return results;
}

export async function saveAttemptOutputs(
  db: Db,
  attemptId: string,
  outputs: unknown[],
  truncated: boolean
): Promise<void> {
  const rows = await db
    .update(taskAttempts)
    .set({ outputs, outputsTruncated: truncated })
    .where(eq(taskAttempts.id, attemptId))
    .returning({ id: taskAttempts.id });
  if (rows.length === 0) {
    throw new NotFoundError('Task attempt', attemptId);
  }
}
