/**
 * Flow runs: creation, reading, listing, state changes and worker claims. A state change is checked by
 * states.ts, written as UPDATE ... WHERE state = <from> (so of two racing writers only one matches),
 * and its event is inserted in the same transaction.
 */
import { randomUUID } from 'node:crypto';

import {
  and,
  asc,
  desc,
  eq,
  gte,
  inArray,
  like,
  lt,
  sql,
  type SQL
} from 'drizzle-orm';

import { NotFoundError, TransitionConflictError } from '../errors.js';
import { flowRuns, flows, taskAttempts, taskRuns } from '../schema.js';
import {
  assertFlowRunTransition,
  isTerminalFlowRunState,
  type FlowRunState
} from '../states.js';
import type {
  ClaimOptions,
  CreateRunInput,
  FlowRun,
  FlowRunDetail,
  ListRunsQuery,
  RunPage,
  TransitionOptions
} from '../store.js';
import {
  asAttempt,
  asRun,
  asTaskRun,
  clampLimit,
  requireText,
  type Db
} from './common.js';
import { insertEvent, insertRunStateEvent } from './events.js';

const DEFAULT_RUN_PAGE = 50;
const MAX_RUN_PAGE = 500;

/** Inserts a run (with its event); with ifAbsent, an existing run for the schedule tick wins and null comes back. */
export async function insertRun(
  db: Db,
  input: CreateRunInput,
  ifAbsent: boolean
): Promise<FlowRun | null> {
  const [flow] = await db
    .select()
    .from(flows)
    .where(
      and(eq(flows.id, input.flowId), eq(flows.workspaceId, input.workspaceId))
    );
  if (!flow) {
    throw new NotFoundError('Flow', input.flowId);
  }
  const version = input.flowVersion ?? flow.latestVersion;
  if (
    !Number.isInteger(version) ||
    version < 1 ||
    version > flow.latestVersion
  ) {
    throw new NotFoundError('Flow version', `${flow.name}@${version}`);
  }
  const state = input.state ?? 'Pending';
  const insert = db.insert(flowRuns).values({
    id: randomUUID(),
    workspaceId: input.workspaceId,
    flowId: flow.id,
    flowVersion: version,
    state,
    trigger: input.trigger,
    scheduleId: input.scheduleId ?? null,
    scheduledAt: input.scheduledAt ?? null,
    parameters: input.parameters ?? {},
    createdAt: new Date()
  });
  const [run] = ifAbsent
    ? await insert
        .onConflictDoNothing({
          target: [flowRuns.flowId, flowRuns.scheduleId, flowRuns.scheduledAt]
        })
        .returning()
    : await insert.returning();
  if (!run) {
    return null;
  }
  await insertEvent(db, {
    workspaceId: run.workspaceId,
    flowId: run.flowId,
    flowRunId: run.id,
    type: 'flow_run.created',
    payload: {
      state,
      trigger: run.trigger,
      flowVersion: version,
      scheduledAt: run.scheduledAt ? run.scheduledAt.toISOString() : null
    }
  });
  return asRun(run);
}

export async function getRun(
  db: Db,
  workspaceId: string,
  runId: string
): Promise<FlowRunDetail | null> {
  const [run] = await db
    .select()
    .from(flowRuns)
    .where(and(eq(flowRuns.id, runId), eq(flowRuns.workspaceId, workspaceId)));
  if (!run) {
    return null;
  }
  const tasks = await db
    .select()
    .from(taskRuns)
    .where(eq(taskRuns.flowRunId, runId))
    .orderBy(asc(taskRuns.position), asc(taskRuns.taskName));
  const attempts =
    tasks.length === 0
      ? []
      : await db
          .select()
          .from(taskAttempts)
          .where(
            inArray(
              taskAttempts.taskRunId,
              tasks.map(t => t.id)
            )
          )
          .orderBy(asc(taskAttempts.attempt));
  return {
    ...asRun(run),
    taskRuns: tasks.map(t => ({
      ...asTaskRun(t),
      attemptList: attempts.filter(a => a.taskRunId === t.id).map(asAttempt)
    }))
  };
}

export async function getRunById(
  db: Db,
  runId: string
): Promise<FlowRun | null> {
  const [run] = await db.select().from(flowRuns).where(eq(flowRuns.id, runId));
  return run ? asRun(run) : null;
}

function parseCursor(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) {
    throw new Error(
      `Invalid runs cursor "${cursor}": use the nextCursor of a previous page`
    );
  }
  return Number(cursor);
}

/** What a run id prefix may hold: run ids are lower-case UUIDs. */
export const RUN_ID_PREFIX = /^[0-9a-f-]{1,36}$/;

export async function listRuns(db: Db, query: ListRunsQuery): Promise<RunPage> {
  const limit = clampLimit(query.limit, DEFAULT_RUN_PAGE, MAX_RUN_PAGE);
  const offset = query.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) {
    throw new Error(`offset must be a whole number ≥ 0, got ${offset}`);
  }
  const conditions: SQL[] = [eq(flowRuns.workspaceId, query.workspaceId)];
  if (query.flowId !== undefined) {
    conditions.push(eq(flowRuns.flowId, query.flowId));
  }
  if (query.idPrefix !== undefined) {
    // Checked here too, so that no caller can slip a LIKE wildcard (% or _) into the pattern.
    if (!RUN_ID_PREFIX.test(query.idPrefix)) {
      throw new Error(
        `idPrefix must be 1-36 lower-case hex digits or dashes, got ${JSON.stringify(query.idPrefix)}`
      );
    }
    conditions.push(like(flowRuns.id, `${query.idPrefix}%`));
  }
  if (query.state !== undefined) {
    const states = Array.isArray(query.state) ? query.state : [query.state];
    if (states.length === 0) {
      return { runs: [], nextCursor: null };
    }
    conditions.push(inArray(flowRuns.state, states));
  }
  if (query.trigger !== undefined) {
    const triggers = Array.isArray(query.trigger)
      ? query.trigger
      : [query.trigger];
    if (triggers.length === 0) {
      return { runs: [], nextCursor: null };
    }
    conditions.push(inArray(flowRuns.trigger, triggers));
  }
  if (query.from !== undefined || query.to !== undefined) {
    // A run's time is when it started, else when it was due, else when it was made: the time the
    // history shows it at.
    const when = sql<Date>`coalesce(${flowRuns.startedAt}, ${flowRuns.scheduledAt}, ${flowRuns.createdAt})`;
    if (query.from !== undefined) {
      conditions.push(gte(when, query.from));
    }
    if (query.to !== undefined) {
      conditions.push(lt(when, query.to));
    }
  }
  // The cursor is the last row's insertion number: keyset paging, stable while new runs arrive.
  if (query.cursor !== undefined) {
    conditions.push(lt(flowRuns.seq, parseCursor(query.cursor)));
  }
  const rows = await db
    .select()
    .from(flowRuns)
    .where(and(...conditions))
    .orderBy(desc(flowRuns.seq))
    .limit(limit + 1)
    .offset(offset);
  const runs = rows.slice(0, limit).map(asRun);
  return {
    runs,
    nextCursor: rows.length > limit ? String(runs[runs.length - 1].seq) : null
  };
}

export async function transitionRun(
  db: Db,
  runId: string,
  to: FlowRunState,
  options: TransitionOptions<FlowRunState>
): Promise<FlowRun> {
  const [current] = await db
    .select()
    .from(flowRuns)
    .where(eq(flowRuns.id, runId));
  if (
    !current ||
    (options.workspaceId !== undefined &&
      current.workspaceId !== options.workspaceId)
  ) {
    throw new NotFoundError('Flow run', runId);
  }
  const from = current.state;
  if (options.from !== undefined && options.from !== from) {
    throw new TransitionConflictError('flow_run', runId, options.from, from);
  }
  assertFlowRunTransition(runId, from, to);
  const now = new Date();
  const [updated] = await db
    .update(flowRuns)
    .set({
      state: to,
      stateReason: options.reason ?? null,
      ...(options.error !== undefined ? { error: options.error } : {}),
      ...(to === 'Running' ? { startedAt: now } : {}),
      ...(isTerminalFlowRunState(to)
        ? { endedAt: now, leaseOwner: null, leaseExpiresAt: null }
        : {})
    })
    .where(and(eq(flowRuns.id, runId), eq(flowRuns.state, from)))
    .returning();
  if (!updated) {
    const [latest] = await db
      .select({ state: flowRuns.state })
      .from(flowRuns)
      .where(eq(flowRuns.id, runId));
    throw new TransitionConflictError(
      'flow_run',
      runId,
      from,
      latest?.state ?? null
    );
  }
  await insertRunStateEvent(db, updated, from, options);
  return asRun(updated);
}

export async function claimNextPendingRun(
  db: Db,
  options: ClaimOptions
): Promise<FlowRun | null> {
  requireText('Lease owner', options.owner);
  if (!(options.leaseMs > 0)) {
    throw new Error(`leaseMs must be positive, got ${options.leaseMs}`);
  }
  assertFlowRunTransition('(claim)', 'Pending', 'Running');
  const conditions: SQL[] = [eq(flowRuns.state, 'Pending')];
  if (options.workspaceId !== undefined) {
    conditions.push(eq(flowRuns.workspaceId, options.workspaceId));
  }
  if (options.pools !== undefined) {
    // A subquery, not a join: FOR UPDATE must lock the run's row only, never its flow's.
    conditions.push(
      inArray(
        flowRuns.flowId,
        db
          .select({ id: flows.id })
          .from(flows)
          .where(inArray(flows.pool, [...options.pools]))
      )
    );
  }
  // SKIP LOCKED: a run another worker is claiming right now is passed over, not waited for.
  const [candidate] = await db
    .select({ id: flowRuns.id })
    .from(flowRuns)
    .where(and(...conditions))
    .orderBy(asc(flowRuns.seq))
    .limit(1)
    .for('update', { skipLocked: true });
  if (!candidate) {
    return null;
  }
  const now = new Date();
  const [run] = await db
    .update(flowRuns)
    .set({
      state: 'Running',
      startedAt: now,
      stateReason: null,
      leaseOwner: options.owner,
      leaseExpiresAt: new Date(now.getTime() + options.leaseMs)
    })
    .where(and(eq(flowRuns.id, candidate.id), eq(flowRuns.state, 'Pending')))
    .returning();
  if (!run) {
    return null;
  }
  await insertRunStateEvent(db, run, 'Pending', { reason: null });
  return asRun(run);
}

export async function renewLease(
  db: Db,
  runId: string,
  owner: string,
  leaseMs: number
): Promise<boolean> {
  const rows = await db
    .update(flowRuns)
    .set({ leaseExpiresAt: new Date(Date.now() + leaseMs) })
    .where(
      and(
        eq(flowRuns.id, runId),
        eq(flowRuns.state, 'Running'),
        eq(flowRuns.leaseOwner, owner)
      )
    )
    .returning({ id: flowRuns.id });
  return rows.length > 0;
}
