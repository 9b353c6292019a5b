/**
 * The Store over drizzle, shared by both back ends: they differ only in how a transaction is run
 * (see DbRunner). Every state change goes through states.ts and is written together with its event in
 * one transaction, as a conditional UPDATE ... WHERE state = <from>, so two processes cannot both win.
 */
import { randomUUID } from 'node:crypto';

import {
  and,
  asc,
  desc,
  eq,
  gt,
  inArray,
  isNull,
  lt,
  lte,
  sql,
  type SQL
} from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

import {
  apiKeyDisplayPrefix,
  generateApiKey,
  hashApiKey
} from '../auth/keys.js';
import { NotFoundError, TransitionConflictError } from './errors.js';
import {
  apiKeys,
  events,
  executedNotebooks,
  flowRuns,
  flows,
  flowVersions,
  logLines,
  taskAttempts,
  taskRuns,
  workspaces,
  type Schema
} from './schema.js';
import {
  assertFlowRunTransition,
  assertTaskRunTransition,
  isActiveTaskRunState,
  isTerminalFlowRunState,
  isTerminalTaskRunState,
  type FlowRunState,
  type TaskRunState
} from './states.js';
import type {
  ApiKeyInfo,
  ApiKeyMatch,
  CellflowEvent,
  ClaimOptions,
  CrashFilter,
  CreatedApiKey,
  CreateRunInput,
  DeployInput,
  Flow,
  FlowRun,
  FlowRunDetail,
  FlowVersion,
  ListEventsQuery,
  ListRunsQuery,
  LogLine,
  NewEvent,
  NewLogLine,
  RunPage,
  Store,
  TaskAttempt,
  TaskAttemptState,
  TaskRun,
  TaskTransitionOptions,
  TaskTransitionResult,
  TransitionOptions,
  Workspace
} from './store.js';

export type Db = PgDatabase<PgQueryResultHKT, Schema>;

/** How a back end runs work: in a transaction, or as a single statement. */
export interface DbRunner {
  readonly kind: 'pglite' | 'postgres';
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  run<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const MAX_RUN_PAGE = 500;
const DEFAULT_RUN_PAGE = 50;
const DEFAULT_EVENT_PAGE = 1000;
const MAX_LOG_PAGE = 10_000;

const apiKeyInfoColumns = {
  id: apiKeys.id,
  workspaceId: apiKeys.workspaceId,
  name: apiKeys.name,
  prefix: apiKeys.prefix,
  createdAt: apiKeys.createdAt,
  lastUsedAt: apiKeys.lastUsedAt,
  revokedAt: apiKeys.revokedAt
};

const asRun = (row: typeof flowRuns.$inferSelect): FlowRun => row as FlowRun;
const asTaskRun = (row: typeof taskRuns.$inferSelect): TaskRun =>
  row as TaskRun;
const asAttempt = (row: typeof taskAttempts.$inferSelect): TaskAttempt =>
  row as TaskAttempt;

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

function requireText(what: string, value: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`${what} must be a non-empty string`);
  }
  return value;
}

function clampLimit(
  limit: number | undefined,
  fallback: number,
  max: number
): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1)
    throw new Error(`limit must be a positive whole number, got ${limit}`);
  return Math.min(limit, max);
}

function parseCursor(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) {
    throw new Error(
      `Invalid runs cursor "${cursor}": use the nextCursor of a previous page`
    );
  }
  return Number(cursor);
}

export class DrizzleStore implements Store {
  constructor(private readonly db: DbRunner) {}

  get kind(): 'pglite' | 'postgres' {
    return this.db.kind;
  }

  async close(): Promise<void> {
    return this.db.close();
  }

  /** Raw SQL for diagnostics and tests (not part of Store: callers must not depend on table layout). */
  async queryRows(text: string): Promise<Record<string, unknown>[]> {
    return this.db.run(async db => {
      const result = (await db.execute(sql.raw(text))) as unknown as {
        rows: Record<string, unknown>[];
      };
      return result.rows;
    });
  }

  // ---- Workspaces

  async ensureWorkspace(name: string): Promise<Workspace> {
    requireText('Workspace name', name);
    return this.db.tx(async db => {
      await db
        .insert(workspaces)
        .values({ id: randomUUID(), name })
        .onConflictDoNothing({ target: workspaces.name });
      const [row] = await db
        .select()
        .from(workspaces)
        .where(eq(workspaces.name, name));
      return row;
    });
  }

  async getWorkspace(id: string): Promise<Workspace | null> {
    return this.db.run(async db => {
      const [row] = await db
        .select()
        .from(workspaces)
        .where(eq(workspaces.id, id));
      return row ?? null;
    });
  }

  // ---- API keys

  async createApiKey(
    workspaceId: string,
    name: string
  ): Promise<CreatedApiKey> {
    requireText('API key name', name);
    const secret = generateApiKey();
    return this.db.tx(async db => {
      await requireWorkspace(db, workspaceId);
      const [key] = await db
        .insert(apiKeys)
        .values({
          id: randomUUID(),
          workspaceId,
          name,
          prefix: apiKeyDisplayPrefix(secret),
          hash: hashApiKey(secret)
        })
        .returning(apiKeyInfoColumns);
      await insertEvent(db, {
        workspaceId,
        type: 'api_key.created',
        payload: { keyId: key.id, name }
      });
      return { key, secret };
    });
  }

  async listApiKeys(workspaceId: string): Promise<ApiKeyInfo[]> {
    return this.db.run(db =>
      db
        .select(apiKeyInfoColumns)
        .from(apiKeys)
        .where(eq(apiKeys.workspaceId, workspaceId))
        .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id))
    );
  }

  async revokeApiKey(workspaceId: string, keyId: string): Promise<boolean> {
    return this.db.tx(async db => {
      const rows = await db
        .update(apiKeys)
        .set({ revokedAt: new Date() })
        .where(
          and(
            eq(apiKeys.id, keyId),
            eq(apiKeys.workspaceId, workspaceId),
            isNull(apiKeys.revokedAt)
          )
        )
        .returning({ id: apiKeys.id });
      if (rows.length > 0) {
        await insertEvent(db, {
          workspaceId,
          type: 'api_key.revoked',
          payload: { keyId }
        });
      }
      return rows.length > 0;
    });
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyMatch | null> {
    return this.db.run(async db => {
      const [row] = await db
        .select({ key: apiKeys, workspace: workspaces })
        .from(apiKeys)
        .innerJoin(workspaces, eq(workspaces.id, apiKeys.workspaceId))
        .where(eq(apiKeys.hash, hash));
      return row ?? null;
    });
  }

  async touchApiKey(keyId: string, at: Date = new Date()): Promise<void> {
    return this.db.run(async db => {
      await db
        .update(apiKeys)
        .set({ lastUsedAt: at })
        .where(eq(apiKeys.id, keyId));
    });
  }

  // ---- Flows

  async deployFlow(
    input: DeployInput
  ): Promise<{ flow: Flow; version: FlowVersion }> {
    const { workspaceId, name, spec, notebook, kernelName } = input;
    requireText('Flow name', name);
    requireText('Kernel name', kernelName);
    return this.db.tx(async db => {
      await requireWorkspace(db, workspaceId);
      await db
        .insert(flows)
        .values({ id: randomUUID(), workspaceId, name })
        .onConflictDoNothing({ target: [flows.workspaceId, flows.name] });
      // The row lock makes concurrent deploys of one flow take version numbers one after the other.
      const [current] = await db
        .select()
        .from(flows)
        .where(and(eq(flows.workspaceId, workspaceId), eq(flows.name, name)))
        .for('update');
      const next = current.latestVersion + 1;
      const now = new Date();
      const [version] = await db
        .insert(flowVersions)
        .values({
          flowId: current.id,
          version: next,
          spec,
          notebook,
          kernelName,
          createdAt: now
        })
        .returning();
      const [flow] = await db
        .update(flows)
        .set({ latestVersion: next, updatedAt: now })
        .where(eq(flows.id, current.id))
        .returning();
      await insertEvent(db, {
        workspaceId,
        flowId: flow.id,
        type: 'flow.deployed',
        payload: { name, version: next }
      });
      return { flow, version };
    });
  }

  async listFlows(workspaceId: string): Promise<Flow[]> {
    return this.db.run(db =>
      db
        .select()
        .from(flows)
        .where(eq(flows.workspaceId, workspaceId))
        .orderBy(asc(flows.name))
    );
  }

  async getFlow(workspaceId: string, flowId: string): Promise<Flow | null> {
    return this.db.run(async db => {
      const [row] = await db
        .select()
        .from(flows)
        .where(and(eq(flows.id, flowId), eq(flows.workspaceId, workspaceId)));
      return row ?? null;
    });
  }

  async getFlowByName(workspaceId: string, name: string): Promise<Flow | null> {
    return this.db.run(async db => {
      const [row] = await db
        .select()
        .from(flows)
        .where(and(eq(flows.name, name), eq(flows.workspaceId, workspaceId)));
      return row ?? null;
    });
  }

  async getFlowVersion(
    workspaceId: string,
    flowId: string,
    version?: number
  ): Promise<FlowVersion | null> {
    return this.db.run(async db => {
      const [row] = await db
        .select({ version: flowVersions })
        .from(flowVersions)
        .innerJoin(flows, eq(flows.id, flowVersions.flowId))
        .where(
          and(
            eq(flows.id, flowId),
            eq(flows.workspaceId, workspaceId),
            eq(flowVersions.version, version ?? flows.latestVersion)
          )
        );
      return row?.version ?? null;
    });
  }

  async setFlowPaused(
    workspaceId: string,
    flowId: string,
    paused: boolean
  ): Promise<Flow> {
    return this.db.tx(async db => {
      const [flow] = await db
        .update(flows)
        .set({ paused, updatedAt: new Date() })
        .where(and(eq(flows.id, flowId), eq(flows.workspaceId, workspaceId)))
        .returning();
      if (!flow) throw new NotFoundError('Flow', flowId);
      await insertEvent(db, {
        workspaceId,
        flowId,
        type: 'flow.updated',
        payload: { paused }
      });
      return flow;
    });
  }

  async deleteFlow(workspaceId: string, flowId: string): Promise<boolean> {
    return this.db.tx(async db => {
      const rows = await db
        .delete(flows)
        .where(and(eq(flows.id, flowId), eq(flows.workspaceId, workspaceId)))
        .returning({ name: flows.name });
      if (rows.length === 0) return false;
      await insertEvent(db, {
        workspaceId,
        flowId,
        type: 'flow.deleted',
        payload: { name: rows[0].name }
      });
      return true;
    });
  }

  // ---- Runs

  async createRun(input: CreateRunInput): Promise<FlowRun> {
    return this.db.tx(async db => {
      const run = await insertRun(db, input, false);
      // Without ifAbsent a conflict raises, so a row always comes back.
      return run!;
    });
  }

  async createScheduledRunIfAbsent(
    input: CreateRunInput & { scheduleId: string; scheduledAt: Date }
  ): Promise<FlowRun | null> {
    return this.db.tx(db =>
      insertRun(db, { state: 'Scheduled', ...input }, true)
    );
  }

  async getRun(
    workspaceId: string,
    runId: string
  ): Promise<FlowRunDetail | null> {
    return this.db.tx(async db => {
      const [run] = await db
        .select()
        .from(flowRuns)
        .where(
          and(eq(flowRuns.id, runId), eq(flowRuns.workspaceId, workspaceId))
        );
      if (!run) return null;
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
    });
  }

  async getRunById(runId: string): Promise<FlowRun | null> {
    return this.db.run(async db => {
      const [run] = await db
        .select()
        .from(flowRuns)
        .where(eq(flowRuns.id, runId));
      return run ? asRun(run) : null;
    });
  }

  async listRuns(query: ListRunsQuery): Promise<RunPage> {
    const limit = clampLimit(query.limit, DEFAULT_RUN_PAGE, MAX_RUN_PAGE);
    const offset = query.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0)
      throw new Error(`offset must be a whole number ≥ 0, got ${offset}`);
    const conditions: SQL[] = [eq(flowRuns.workspaceId, query.workspaceId)];
    if (query.flowId !== undefined)
      conditions.push(eq(flowRuns.flowId, query.flowId));
    if (query.state !== undefined) {
      const states = Array.isArray(query.state) ? query.state : [query.state];
      if (states.length === 0)
        return Promise.resolve({ runs: [], nextCursor: null });
      conditions.push(inArray(flowRuns.state, states));
    }
    if (query.cursor !== undefined)
      conditions.push(lt(flowRuns.seq, parseCursor(query.cursor)));
    return this.db.run(async db => {
      const rows = await db
        .select()
        .from(flowRuns)
        .where(and(...conditions))
        .orderBy(desc(flowRuns.seq))
        .limit(limit + 1)
        .offset(offset);
      const more = rows.length > limit;
      const runs = rows.slice(0, limit).map(asRun);
      return {
        runs,
        nextCursor: more ? String(runs[runs.length - 1].seq) : null
      };
    });
  }

  async transitionRun(
    runId: string,
    to: FlowRunState,
    options: TransitionOptions<FlowRunState> = {}
  ): Promise<FlowRun> {
    return this.db.tx(async db => {
      const [current] = await db
        .select()
        .from(flowRuns)
        .where(eq(flowRuns.id, runId));
      if (!current) throw new NotFoundError('Flow run', runId);
      const from = current.state;
      if (options.from !== undefined && options.from !== from) {
        throw new TransitionConflictError(
          'flow_run',
          runId,
          options.from,
          from
        );
      }
      assertFlowRunTransition(runId, from, to);
      const now = new Date();
      const terminal = isTerminalFlowRunState(to);
      const [updated] = await db
        .update(flowRuns)
        .set({
          state: to,
          stateReason: options.reason ?? null,
          ...(options.error !== undefined ? { error: options.error } : {}),
          ...(to === 'Running' ? { startedAt: now } : {}),
          ...(terminal
            ? { endedAt: now, leaseOwner: null, leaseExpiresAt: null }
            : {})
        })
        .where(and(eq(flowRuns.id, runId), eq(flowRuns.state, from)))
        .returning();
      if (!updated) {
        const [now_] = await db
          .select({ state: flowRuns.state })
          .from(flowRuns)
          .where(eq(flowRuns.id, runId));
        throw new TransitionConflictError(
          'flow_run',
          runId,
          from,
          now_?.state ?? null
        );
      }
      await insertRunStateEvent(db, updated, from, options);
      return asRun(updated);
    });
  }

  async claimNextPendingRun(options: ClaimOptions): Promise<FlowRun | null> {
    requireText('Lease owner', options.owner);
    if (!(options.leaseMs > 0))
      throw new Error(`leaseMs must be positive, got ${options.leaseMs}`);
    assertFlowRunTransition('(claim)', 'Pending', 'Running');
    return this.db.tx(async db => {
      const conditions: SQL[] = [eq(flowRuns.state, 'Pending')];
      if (options.workspaceId !== undefined)
        conditions.push(eq(flowRuns.workspaceId, options.workspaceId));
      // SKIP LOCKED: a run another worker is claiming right now is passed over, not waited for.
      const [candidate] = await db
        .select({ id: flowRuns.id })
        .from(flowRuns)
        .where(and(...conditions))
        .orderBy(asc(flowRuns.seq))
        .limit(1)
        .for('update', { skipLocked: true });
      if (!candidate) return null;
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
        .where(
          and(eq(flowRuns.id, candidate.id), eq(flowRuns.state, 'Pending'))
        )
        .returning();
      if (!run) return null;
      await insertRunStateEvent(db, run, 'Pending', { reason: null });
      return asRun(run);
    });
  }

  async renewLease(
    runId: string,
    owner: string,
    leaseMs: number
  ): Promise<boolean> {
    return this.db.run(async db => {
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
    });
  }

  async crashRunningRuns(
    reason: string,
    filter: CrashFilter = {}
  ): Promise<FlowRun[]> {
    requireText('Crash reason', reason);
    assertFlowRunTransition('(crash)', 'Running', 'Crashed');
    return this.db.tx(async db => {
      const conditions: SQL[] = [eq(flowRuns.state, 'Running')];
      if (filter.leaseOwner !== undefined)
        conditions.push(eq(flowRuns.leaseOwner, filter.leaseOwner));
      if (filter.leaseExpiredBefore !== undefined) {
        conditions.push(
          lte(flowRuns.leaseExpiresAt, filter.leaseExpiredBefore)
        );
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
      if (crashed.length === 0) return [];
      for (const run of crashed)
        await insertRunStateEvent(db, run, 'Running', { reason });
      await endOpenTasks(db, crashed, reason, now);
      return crashed.map(asRun);
    });
  }

  // ---- Task runs

  async createTaskRuns(
    flowRunId: string,
    taskNames: string[]
  ): Promise<TaskRun[]> {
    taskNames.forEach(n => requireText('Task name', n));
    return this.db.tx(async db => {
      const [run] = await db
        .select()
        .from(flowRuns)
        .where(eq(flowRuns.id, flowRunId));
      if (!run) throw new NotFoundError('Flow run', flowRunId);
      if (taskNames.length === 0) return [];
      const [{ last }] = await db
        .select({
          last: sql<number>`coalesce(max(${taskRuns.position}), -1)`.mapWith(
            Number
          )
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
    });
  }

  async transitionTaskRun(
    taskRunId: string,
    to: TaskRunState,
    options: TaskTransitionOptions = {}
  ): Promise<TaskTransitionResult> {
    return this.db.tx(async db => {
      const [row] = await db
        .select({
          task: taskRuns,
          workspaceId: flowRuns.workspaceId,
          flowId: flowRuns.flowId
        })
        .from(taskRuns)
        .innerJoin(flowRuns, eq(flowRuns.id, taskRuns.flowRunId))
        .where(eq(taskRuns.id, taskRunId));
      if (!row) throw new NotFoundError('Task run', taskRunId);
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
      const now = new Date();
      const starts = isActiveTaskRunState(to);
      const ends = isActiveTaskRunState(from as TaskRunState);
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
          ...(starts
            ? {
                attempts: sql`${taskRuns.attempts} + 1`,
                startedAt: current.startedAt ?? now,
                error: null
              }
            : {}),
          ...(to === 'AwaitingRetry' || isTerminalTaskRunState(to)
            ? { error }
            : {}),
          ...(isTerminalTaskRunState(to) ? { endedAt: now } : {})
        })
        .where(and(eq(taskRuns.id, taskRunId), eq(taskRuns.state, from)))
        .returning();
      if (!task) {
        const [again] = await db
          .select({ state: taskRuns.state })
          .from(taskRuns)
          .where(eq(taskRuns.id, taskRunId));
        throw new TransitionConflictError(
          'task_run',
          taskRunId,
          from,
          again?.state ?? null
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
          error: task.error
        }
      });
      return { taskRun: asTaskRun(task), attempt };
    });
  }

  async saveAttemptOutputs(
    attemptId: string,
    outputs: unknown[],
    truncated: boolean
  ): Promise<void> {
    return this.db.run(async db => {
      const rows = await db
        .update(taskAttempts)
        .set({ outputs, outputsTruncated: truncated })
        .where(eq(taskAttempts.id, attemptId))
        .returning({ id: taskAttempts.id });
      if (rows.length === 0) throw new NotFoundError('Task attempt', attemptId);
    });
  }

  async appendLogLines(lines: NewLogLine[]): Promise<LogLine[]> {
    if (lines.length === 0) return Promise.resolve([]);
    return this.db.run(db =>
      db
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
        .returning()
    );
  }

  async listLogLines(
    workspaceId: string,
    flowRunId: string,
    query: { taskName?: string; afterId?: number; limit?: number } = {}
  ): Promise<LogLine[]> {
    const limit = clampLimit(query.limit, MAX_LOG_PAGE, MAX_LOG_PAGE);
    return this.db.tx(async db => {
      await requireRun(db, workspaceId, flowRunId);
      const conditions: SQL[] = [eq(logLines.flowRunId, flowRunId)];
      if (query.taskName !== undefined)
        conditions.push(eq(logLines.taskName, query.taskName));
      if (query.afterId !== undefined)
        conditions.push(gt(logLines.id, query.afterId));
      return db
        .select()
        .from(logLines)
        .where(and(...conditions))
        .orderBy(asc(logLines.id))
        .limit(limit);
    });
  }

  async saveExecutedNotebook(
    flowRunId: string,
    notebook: unknown
  ): Promise<void> {
    return this.db.run(async db => {
      const savedAt = new Date();
      await db
        .insert(executedNotebooks)
        .values({ flowRunId, notebook, savedAt })
        .onConflictDoUpdate({
          target: executedNotebooks.flowRunId,
          set: { notebook, savedAt }
        });
    });
  }

  async getExecutedNotebook(
    workspaceId: string,
    flowRunId: string
  ): Promise<unknown | null> {
    return this.db.run(async db => {
      const [row] = await db
        .select({ notebook: executedNotebooks.notebook })
        .from(executedNotebooks)
        .innerJoin(flowRuns, eq(flowRuns.id, executedNotebooks.flowRunId))
        .where(
          and(eq(flowRuns.id, flowRunId), eq(flowRuns.workspaceId, workspaceId))
        );
      return row ? row.notebook : null;
    });
  }

  // ---- Events

  async appendEvent(event: NewEvent): Promise<CellflowEvent> {
    requireText('Event type', event.type);
    return this.db.run(db => insertEvent(db, event));
  }

  async listEvents(query: ListEventsQuery): Promise<CellflowEvent[]> {
    const limit = clampLimit(
      query.limit,
      DEFAULT_EVENT_PAGE,
      DEFAULT_EVENT_PAGE * 10
    );
    const conditions: SQL[] = [
      eq(events.workspaceId, query.workspaceId),
      // Hold back events of transactions newer than the oldest one still open: one of those could
      // yet commit a lower id, and a client resuming after our last id would never see it.
      sql`"events"."tx_id" < pg_snapshot_xmin(pg_current_snapshot())`
    ];
    if (query.afterId) conditions.push(gt(events.id, query.afterId));
    if (query.flowId !== undefined)
      conditions.push(eq(events.flowId, query.flowId));
    if (query.flowRunId !== undefined)
      conditions.push(eq(events.flowRunId, query.flowRunId));
    return this.db.run(db =>
      db
        .select()
        .from(events)
        .where(and(...conditions))
        .orderBy(asc(events.id))
        .limit(limit)
    );
  }
}

// ---- Helpers that run inside a caller's transaction (never through the runner: no re-entry).

async function requireWorkspace(db: Db, workspaceId: string): Promise<void> {
  const [row] = await db
    .select({ id: workspaces.id })
    .from(workspaces)
    .where(eq(workspaces.id, workspaceId));
  if (!row) throw new NotFoundError('Workspace', workspaceId);
}

async function requireRun(
  db: Db,
  workspaceId: string,
  runId: string
): Promise<void> {
  const [row] = await db
    .select({ id: flowRuns.id })
    .from(flowRuns)
    .where(and(eq(flowRuns.id, runId), eq(flowRuns.workspaceId, workspaceId)));
  if (!row) throw new NotFoundError('Flow run', runId);
}

async function insertEvent(db: Db, event: NewEvent): Promise<CellflowEvent> {
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

function insertRunStateEvent(
  db: Db,
  run: typeof flowRuns.$inferSelect,
  from: string,
  options: TransitionOptions<FlowRunState>
): Promise<CellflowEvent> {
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

async function insertRun(
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
  if (!flow) throw new NotFoundError('Flow', input.flowId);
  const version = input.flowVersion ?? flow.latestVersion;
  if (
    !Number.isInteger(version) ||
    version < 1 ||
    version > flow.latestVersion
  ) {
    throw new NotFoundError('Flow version', `${flow.name}@${version}`);
  }
  const state = input.state ?? 'Pending';
  const values = {
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
  };
  const insert = db.insert(flowRuns).values(values);
  const [run] = ifAbsent
    ? await insert
        .onConflictDoNothing({
          target: [flowRuns.flowId, flowRuns.scheduleId, flowRuns.scheduledAt]
        })
        .returning()
    : await insert.returning();
  if (!run) return null;
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

/** A crashed run's tasks: running or waiting ones crash with it, ones not yet begun are cancelled. */
async function endOpenTasks(
  db: Db,
  runs: (typeof flowRuns.$inferSelect)[],
  reason: string,
  now: Date
): Promise<void> {
  const runIds = runs.map(r => r.id);
  const open = await db
    .select()
    .from(taskRuns)
    .where(
      and(
        inArray(taskRuns.flowRunId, runIds),
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
      .set({ state: to, endedAt: now, error: to === 'Crashed' ? reason : null })
      .where(and(eq(taskRuns.id, task.id), eq(taskRuns.state, task.state)))
      .returning();
    if (!updated) continue;
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
