/**
 * Schedules and the scheduler's writes. A schedule is validated with validateSchedule before it is
 * stored; every change bumps its revision and removes its not-started runs in the same transaction, so a
 * scheduler still holding the old version cannot plan from it (planScheduledRuns checks the revision).
 * Releasing due runs locks the flow row, so two schedulers never both fill the flow's last free slot.
 */
import { randomUUID } from 'node:crypto';

import {
  and,
  asc,
  count,
  eq,
  gt,
  inArray,
  isNotNull,
  lte,
  min,
  sql
} from 'drizzle-orm';

import {
  validateSchedule,
  type ScheduleProblem,
  type ScheduleSpec
} from '../../../../src/flow/schedule.js';
import { LIMITS, withinLimit } from '../../../../src/flow/limits.js';
import { NotFoundError } from '../errors.js';
import { flowRuns, flows, schedules } from '../schema.js';
import type {
  ActiveSchedule,
  Flow,
  FlowRun,
  OverlapPolicy,
  PlanResult,
  PlanScheduledRunsInput,
  ReleaseResult,
  Schedule,
  ScheduleChange,
  SchedulerAgenda
} from '../store.js';
import { asRun, type Db } from './common.js';
import { insertEvent } from './events.js';
import { insertRun, transitionRun } from './runs.js';

/** A schedule that validateSchedule refused: `problems` name each field at fault. */
export class InvalidScheduleError extends Error {
  readonly code = 'INVALID_SCHEDULE';
  readonly field: string;
  constructor(readonly problems: ScheduleProblem[]) {
    super(
      `Invalid schedule: ${problems.map(p => `${p.field}: ${p.message}`).join('; ')}`
    );
    this.name = 'InvalidScheduleError';
    this.field = problems[0]?.field ?? 'schedule';
  }
}

const NOT_STARTED = ['Scheduled', 'Late'] as const;
const ACTIVE = ['Pending', 'Running'] as const;

/**
 * validateSchedule, plus the server's own rule: a cron schedule names its zone, because the maths would
 * otherwise take this machine's zone, which nobody deploying from elsewhere can see.
 */
export function checkScheduleInput(input: unknown): ScheduleSpec {
  if (
    typeof input === 'object' &&
    input !== null &&
    (input as { kind?: unknown }).kind === 'cron' &&
    (input as { timezone?: unknown }).timezone === undefined
  ) {
    throw new InvalidScheduleError([
      {
        field: 'timezone',
        message:
          'timezone is required for a cron schedule: an IANA name such as Europe/Berlin or UTC'
      }
    ]);
  }
  const result = validateSchedule(input);
  if (!result.ok) {
    throw new InvalidScheduleError(result.problems);
  }
  return result.schedule;
}

/** The validated schedule as stored: the timing in `spec`, the rest in their own columns. */
function columnsOf(schedule: ScheduleSpec) {
  const { paused, parameters, missedPolicy, ...timing } = schedule;
  return {
    kind: schedule.kind,
    spec: timing as ScheduleSpec,
    paused: paused ?? false,
    parameters: parameters ?? {},
    missedPolicy: missedPolicy ?? 'skip'
  };
}

type ScheduleRow = typeof schedules.$inferSelect;

const asSchedule = (row: ScheduleRow, workspaceId: string): Schedule => ({
  ...row,
  spec: row.spec as ScheduleSpec,
  workspaceId
});

async function scheduleInWorkspace(
  db: Db,
  workspaceId: string,
  scheduleId: string,
  lock = false
): Promise<ScheduleRow | null> {
  const query = db
    .select({ schedule: schedules })
    .from(schedules)
    .innerJoin(flows, eq(flows.id, schedules.flowId))
    .where(
      and(eq(schedules.id, scheduleId), eq(flows.workspaceId, workspaceId))
    );
  const [row] = lock
    ? await query.for('update', { of: schedules })
    : await query;
  return row?.schedule ?? null;
}

export async function createSchedule(
  db: Db,
  workspaceId: string,
  flowId: string,
  input: unknown,
  now: Date
): Promise<Schedule> {
  const schedule = checkScheduleInput(input);
  const [flow] = await db
    .select({ id: flows.id })
    .from(flows)
    .where(and(eq(flows.id, flowId), eq(flows.workspaceId, workspaceId)));
  if (!flow) {
    throw new NotFoundError('Flow', flowId);
  }
  const [row] = await db
    .insert(schedules)
    .values({
      id: randomUUID(),
      flowId,
      ...columnsOf(schedule),
      createdAt: now,
      updatedAt: now,
      // Ticks before the schedule existed are not missed runs.
      plannedUntil: now
    })
    .returning();
  await insertEvent(db, {
    workspaceId,
    flowId,
    type: 'schedule.created',
    payload: { scheduleId: row.id, schedule: { ...schedule } }
  });
  return asSchedule(row, workspaceId);
}

export async function listSchedules(
  db: Db,
  workspaceId: string,
  flowId?: string
): Promise<Schedule[]> {
  const rows = await db
    .select({ schedule: schedules })
    .from(schedules)
    .innerJoin(flows, eq(flows.id, schedules.flowId))
    .where(
      and(
        eq(flows.workspaceId, workspaceId),
        flowId === undefined ? undefined : eq(flows.id, flowId)
      )
    )
    .orderBy(asc(schedules.createdAt), asc(schedules.id));
  return rows.map(r => asSchedule(r.schedule, workspaceId));
}

export async function getSchedule(
  db: Db,
  workspaceId: string,
  scheduleId: string
): Promise<Schedule | null> {
  const row = await scheduleInWorkspace(db, workspaceId, scheduleId);
  return row ? asSchedule(row, workspaceId) : null;
}

/** Deletes the schedule's Scheduled and Late runs (none has started), each with an event. */
export async function deleteNotStartedRuns(
  db: Db,
  scheduleId: string,
  reason: string
): Promise<FlowRun[]> {
  const removed = await db
    .delete(flowRuns)
    .where(
      and(
        eq(flowRuns.scheduleId, scheduleId),
        inArray(flowRuns.state, [...NOT_STARTED])
      )
    )
    .returning();
  for (const run of removed) {
    await insertEvent(db, {
      workspaceId: run.workspaceId,
      flowId: run.flowId,
      flowRunId: run.id,
      type: 'flow_run.deleted',
      payload: {
        state: run.state,
        scheduledAt: run.scheduledAt?.toISOString() ?? null,
        reason
      }
    });
  }
  return removed.map(asRun);
}

/**
 * Replaces the schedule with `input` (validated whole) and removes its not-started runs: the scheduler
 * plans the new timing from now on. With `expectedRevision`, a schedule changed meanwhile is refused.
 */
export async function updateSchedule(
  db: Db,
  workspaceId: string,
  scheduleId: string,
  input: unknown,
  now: Date,
  expectedRevision?: number
): Promise<ScheduleChange> {
  const schedule = checkScheduleInput(input);
  const current = await scheduleInWorkspace(db, workspaceId, scheduleId, true);
  if (!current) {
    throw new NotFoundError('Schedule', scheduleId);
  }
  if (expectedRevision !== undefined && current.revision !== expectedRevision) {
    throw new ScheduleConflictError(
      scheduleId,
      expectedRevision,
      current.revision
    );
  }
  const removed = await deleteNotStartedRuns(
    db,
    scheduleId,
    schedule.paused ? 'schedule paused' : 'schedule changed'
  );
  const [row] = await db
    .update(schedules)
    .set({
      ...columnsOf(schedule),
      updatedAt: now,
      revision: current.revision + 1,
      // Ticks while paused, or of the old timing, are not missed runs of the new one.
      plannedUntil: now
    })
    .where(eq(schedules.id, scheduleId))
    .returning();
  await insertEvent(db, {
    workspaceId,
    flowId: row.flowId,
    type: 'schedule.updated',
    payload: {
      scheduleId,
      schedule: { ...schedule },
      removedRuns: removed.length
    }
  });
  return {
    schedule: asSchedule(row, workspaceId),
    removedRuns: removed.map(r => r.id)
  };
}

/** Someone else changed the schedule between the caller's read and its write. */
export class ScheduleConflictError extends Error {
  readonly code = 'SCHEDULE_CONFLICT';
  constructor(
    readonly scheduleId: string,
    readonly expected: number,
    readonly actual: number
  ) {
    super(
      `Schedule ${scheduleId} changed meanwhile (revision ${actual}, not ${expected}): read it again`
    );
    this.name = 'ScheduleConflictError';
  }
}

export async function deleteSchedule(
  db: Db,
  workspaceId: string,
  scheduleId: string
): Promise<boolean> {
  const current = await scheduleInWorkspace(db, workspaceId, scheduleId, true);
  if (!current) {
    return false;
  }
  const removed = await deleteNotStartedRuns(
    db,
    scheduleId,
    'schedule deleted'
  );
  await db.delete(schedules).where(eq(schedules.id, scheduleId));
  await insertEvent(db, {
    workspaceId,
    flowId: current.flowId,
    type: 'schedule.deleted',
    payload: { scheduleId, removedRuns: removed.length }
  });
  return true;
}

export async function setFlowOverlap(
  db: Db,
  workspaceId: string,
  flowId: string,
  overlap: OverlapPolicy,
  maxConcurrent: number | null
): Promise<Flow> {
  if (!['queue', 'skip', 'parallel'].includes(overlap)) {
    throw new Error(
      `overlap must be 'queue', 'skip' or 'parallel', got '${overlap}'`
    );
  }
  if (
    maxConcurrent !== null &&
    !withinLimit(maxConcurrent, LIMITS.maxConcurrent)
  ) {
    throw new Error(
      `maxConcurrent must be a whole number of at least 1 and at most ${LIMITS.maxConcurrent.max}, got ${maxConcurrent}`
    );
  }
  const [flow] = await db
    .update(flows)
    .set({ overlap, maxConcurrent, updatedAt: new Date() })
    .where(and(eq(flows.id, flowId), eq(flows.workspaceId, workspaceId)))
    .returning();
  if (!flow) {
    throw new NotFoundError('Flow', flowId);
  }
  await insertEvent(db, {
    workspaceId,
    flowId,
    type: 'flow.updated',
    payload: { overlap, maxConcurrent }
  });
  return flow;
}

/** Every schedule that is not paused, with what the scheduler needs of its flow. */
export async function listActiveSchedules(db: Db): Promise<ActiveSchedule[]> {
  const rows = await db
    .select({
      schedule: schedules,
      workspaceId: flows.workspaceId,
      flowPaused: flows.paused,
      latestVersion: flows.latestVersion
    })
    .from(schedules)
    .innerJoin(flows, eq(flows.id, schedules.flowId))
    .where(eq(schedules.paused, false))
    .orderBy(asc(schedules.id));
  return rows.map(r => ({
    ...asSchedule(r.schedule, r.workspaceId),
    flowPaused: r.flowPaused,
    latestVersion: r.latestVersion
  }));
}

/**
 * Creates the runs of a schedule's ticks (the unique (flow, schedule, time) key makes a tick that
 * already has a run a no-op) and moves its planned-until mark forward. Nothing happens when the
 * schedule changed or was paused since the caller read it (`stale`).
 */
export async function planScheduledRuns(
  db: Db,
  input: PlanScheduledRunsInput
): Promise<PlanResult> {
  const [row] = await db
    .select({ schedule: schedules, workspaceId: flows.workspaceId })
    .from(schedules)
    .innerJoin(flows, eq(flows.id, schedules.flowId))
    .where(eq(schedules.id, input.scheduleId))
    .for('update', { of: schedules });
  if (!row || row.schedule.revision !== input.revision || row.schedule.paused) {
    return { stale: true, created: [], workspaceId: row?.workspaceId ?? null };
  }
  const { schedule, workspaceId } = row;
  const created: FlowRun[] = [];
  for (const tick of input.ticks) {
    const run = await insertRun(
      db,
      {
        workspaceId,
        flowId: schedule.flowId,
        flowVersion: input.flowVersion,
        trigger: 'scheduled',
        state: 'Scheduled',
        scheduleId: schedule.id,
        scheduledAt: tick.scheduledAt,
        parameters: tick.parameters
      },
      true
    );
    if (!run) {
      continue;
    }
    created.push(
      tick.skipReason
        ? await transitionRun(db, run.id, 'Skipped', {
            from: 'Scheduled',
            reason: tick.skipReason
          })
        : run
    );
  }
  await db
    .update(schedules)
    .set({
      plannedUntil: sql`GREATEST(${schedules.plannedUntil}, ${input.plannedUntil.toISOString()}::timestamptz)`
    })
    .where(eq(schedules.id, schedule.id));
  return { stale: false, created, workspaceId };
}

/** The schedule's runs still Scheduled (not Late: a live scheduler marks those) at or before `before`. */
export async function listOverdueScheduledRuns(
  db: Db,
  scheduleId: string,
  before: Date
): Promise<FlowRun[]> {
  const rows = await db
    .select()
    .from(flowRuns)
    .where(
      and(
        eq(flowRuns.scheduleId, scheduleId),
        eq(flowRuns.state, 'Scheduled'),
        lte(flowRuns.scheduledAt, before)
      )
    )
    .orderBy(asc(flowRuns.scheduledAt));
  return rows.map(asRun);
}

/** Which flows have due runs now, and when the next not-started run falls due. */
export async function schedulerAgenda(
  db: Db,
  now: Date
): Promise<SchedulerAgenda> {
  const notStarted = inArray(flowRuns.state, [...NOT_STARTED]);
  const due = await db
    .selectDistinct({ flowId: flowRuns.flowId })
    .from(flowRuns)
    .where(
      and(
        notStarted,
        isNotNull(flowRuns.scheduledAt),
        lte(flowRuns.scheduledAt, now)
      )
    );
  const [next] = await db
    .select({ at: min(flowRuns.scheduledAt) })
    .from(flowRuns)
    .where(and(notStarted, gt(flowRuns.scheduledAt, now)));
  return { dueFlowIds: due.map(d => d.flowId), nextDueAt: next?.at ?? null };
}

function lateReason(lateAfterMs: number): string {
  return `not started ${lateAfterMs / 1000} s after its scheduled time`;
}

/**
 * Starts the flow's due runs as its overlap policy allows: each becomes Pending while the flow has a
 * free slot (active = Pending or Running runs); beyond it, 'skip' records the run Skipped and 'queue'
 * or 'parallel' leave it waiting (Late once `lateAfterMs` past its time). A paused flow's due runs are
 * Skipped. The flow row is locked, so concurrent schedulers take the slots one after the other.
 */
export async function releaseDueRuns(
  db: Db,
  flowId: string,
  now: Date,
  lateAfterMs: number
): Promise<ReleaseResult> {
  const result: ReleaseResult = {
    workspaceId: null,
    released: [],
    skipped: [],
    late: [],
    waiting: []
  };
  const [flow] = await db
    .select()
    .from(flows)
    .where(eq(flows.id, flowId))
    .for('update');
  if (!flow) {
    return result;
  }
  result.workspaceId = flow.workspaceId;
  const due = await db
    .select()
    .from(flowRuns)
    .where(
      and(
        eq(flowRuns.flowId, flowId),
        inArray(flowRuns.state, [...NOT_STARTED]),
        lte(flowRuns.scheduledAt, now)
      )
    )
    .orderBy(asc(flowRuns.scheduledAt), asc(flowRuns.seq));
  if (due.length === 0) {
    return result;
  }
  const [{ active }] = await db
    .select({ active: count() })
    .from(flowRuns)
    .where(
      and(eq(flowRuns.flowId, flowId), inArray(flowRuns.state, [...ACTIVE]))
    );
  const limit =
    flow.overlap === 'parallel'
      ? (flow.maxConcurrent ?? Infinity)
      : (flow.maxConcurrent ?? 1);
  let running = active;
  for (const row of due) {
    const run = asRun(row);
    const from = run.state;
    if (flow.paused) {
      result.skipped.push(
        await transitionRun(db, run.id, 'Skipped', {
          from,
          reason: 'the flow is paused'
        })
      );
    } else if (running < limit) {
      result.released.push(
        await transitionRun(db, run.id, 'Pending', { from, reason: null })
      );
      running++;
    } else if (flow.overlap === 'skip') {
      result.skipped.push(
        await transitionRun(db, run.id, 'Skipped', {
          from,
          reason: `${running} run${running === 1 ? '' : 's'} of the flow still active (overlap: skip)`
        })
      );
    } else if (
      from === 'Scheduled' &&
      run.scheduledAt!.getTime() <= now.getTime() - lateAfterMs
    ) {
      const late = await transitionRun(db, run.id, 'Late', {
        from,
        reason: lateReason(lateAfterMs)
      });
      result.late.push(late);
      result.waiting.push(late);
    } else {
      result.waiting.push(run);
    }
  }
  return result;
}
