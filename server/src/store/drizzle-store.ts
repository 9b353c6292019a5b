/**
 * The Store over drizzle, shared by both back ends: they differ only in how work is run (DbRunner).
 * Each method picks a transaction (several statements that must agree: a change and its event) or a
 * single statement, and hands the handle to the query module for its area (./sql/).
 */
import { sql } from 'drizzle-orm';

import { NotFoundError } from './errors.js';
import type { Db } from './sql/common.js';
import { crashRunningRuns, listRunningLeaseOwners } from './sql/crash.js';
import { pruneRuns } from './sql/retention.js';
import { insertEvent, latestEventId, listEvents } from './sql/events.js';
import * as flowsSql from './sql/flows.js';
import * as keysSql from './sql/keys.js';
import * as logsSql from './sql/logs.js';
import * as notifySql from './sql/notifications.js';
import * as runsSql from './sql/runs.js';
import * as schedulesSql from './sql/schedules.js';
import * as secretsSql from './sql/secrets.js';
import * as taskCacheSql from './sql/task-cache.js';
import * as tasksSql from './sql/tasks.js';
import * as workersSql from './sql/workers.js';
import type { FlowRunState, TaskRunState } from './states.js';
import type {
  ClaimOptions,
  PruneRunsPolicy,
  CrashFilter,
  CreateRunInput,
  DeliveryOutcome,
  ListDeliveriesQuery,
  NewNotificationRule,
  DeployInput,
  FlowRetrySettings,
  ListEventsQuery,
  ListRunsQuery,
  NewEvent,
  NewTaskCacheEntry,
  NewLogLine,
  OverlapPolicy,
  PlanScheduledRunsInput,
  Store,
  TaskTransitionOptions,
  TaskTransitionStep,
  TransitionOptions,
  WorkerRegistration
} from './store.js';

export type { Db } from './sql/common.js';

/** How a back end runs work: in a transaction, or as a single statement. */
export interface DbRunner {
  readonly kind: 'pglite' | 'postgres';
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  run<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export class DrizzleStore implements Store {
  constructor(private readonly db: DbRunner) {}

  get kind(): 'pglite' | 'postgres' {
    return this.db.kind;
  }

  close() {
    return this.db.close();
  }

  /** Raw SQL for diagnostics and tests (not part of Store: callers must not depend on table layout). */
  queryRows(text: string): Promise<Record<string, unknown>[]> {
    return this.db.run(async db => {
      const result = (await db.execute(sql.raw(text))) as unknown as {
        rows: Record<string, unknown>[];
      };
      return result.rows;
    });
  }

  ensureWorkspace(name: string) {
    return this.db.tx(db => keysSql.ensureWorkspace(db, name));
  }
  getWorkspace(id: string) {
    return this.db.run(db => keysSql.getWorkspace(db, id));
  }
  findWorkspaceByName(name: string) {
    return this.db.run(db => secretsSql.findWorkspaceByName(db, name));
  }
  createApiKey(workspaceId: string, name: string) {
    return this.db.tx(db => keysSql.createApiKey(db, workspaceId, name));
  }
  listApiKeys(workspaceId: string) {
    return this.db.run(db => keysSql.listApiKeys(db, workspaceId));
  }
  revokeApiKey(workspaceId: string, keyId: string) {
    return this.db.tx(db => keysSql.revokeApiKey(db, workspaceId, keyId));
  }
  findApiKeyByHash(hash: string) {
    return this.db.run(db => keysSql.findApiKeyByHash(db, hash));
  }
  touchApiKey(keyId: string, at: Date = new Date()) {
    return this.db.run(db => keysSql.touchApiKey(db, keyId, at));
  }

  getTaskCacheEntry(workspaceId: string, cacheKey: string, now: Date) {
    return this.db.run(db =>
      taskCacheSql.getTaskCacheEntry(db, workspaceId, cacheKey, now)
    );
  }
  putTaskCacheEntry(
    workspaceId: string,
    entry: NewTaskCacheEntry,
    maxBytes: number
  ) {
    return this.db.tx(db =>
      taskCacheSql.putTaskCacheEntry(db, workspaceId, entry, maxBytes)
    );
  }

  putSecret(workspaceId: string, name: string, ciphertext: string) {
    return this.db.tx(db =>
      secretsSql.putSecret(db, workspaceId, name, ciphertext)
    );
  }
  listSecrets(workspaceId: string) {
    return this.db.run(db => secretsSql.listSecrets(db, workspaceId));
  }
  getSecretCiphertexts(workspaceId: string) {
    return this.db.run(db => secretsSql.getSecretCiphertexts(db, workspaceId));
  }
  deleteSecret(workspaceId: string, name: string) {
    return this.db.run(db => secretsSql.deleteSecret(db, workspaceId, name));
  }

  deployFlow(input: DeployInput) {
    return this.db.tx(db => flowsSql.deployFlow(db, input));
  }
  listFlows(workspaceId: string) {
    return this.db.run(db => flowsSql.listFlows(db, workspaceId));
  }
  getFlow(workspaceId: string, flowId: string) {
    return this.db.run(db => flowsSql.getFlow(db, workspaceId, flowId));
  }
  getFlowByName(workspaceId: string, name: string) {
    return this.db.run(db => flowsSql.getFlowByName(db, workspaceId, name));
  }
  getFlowVersion(workspaceId: string, flowId: string, version?: number) {
    return this.db.run(db =>
      flowsSql.getFlowVersion(db, workspaceId, flowId, version)
    );
  }
  setFlowRetries(
    workspaceId: string,
    flowId: string,
    settings: FlowRetrySettings
  ) {
    return this.db.tx(db =>
      flowsSql.setFlowRetries(db, workspaceId, flowId, settings)
    );
  }
  setFlowPaused(workspaceId: string, flowId: string, paused: boolean) {
    return this.db.tx(db =>
      flowsSql.setFlowPaused(db, workspaceId, flowId, paused)
    );
  }
  deleteFlow(workspaceId: string, flowId: string) {
    return this.db.tx(db => flowsSql.deleteFlow(db, workspaceId, flowId));
  }

  createRun(input: CreateRunInput) {
    // Without ifAbsent a conflict raises, so a row always comes back.
    return this.db.tx(async db => (await runsSql.insertRun(db, input, false))!);
  }
  createScheduledRunIfAbsent(
    input: CreateRunInput & { scheduleId: string; scheduledAt: Date }
  ) {
    return this.db.tx(db =>
      runsSql.insertRun(db, { state: 'Scheduled', ...input }, true)
    );
  }
  getRun(workspaceId: string, runId: string) {
    // One transaction so the run, its tasks and their attempts are read as of one moment.
    return this.db.tx(db => runsSql.getRun(db, workspaceId, runId));
  }
  getRunById(runId: string) {
    return this.db.run(db => runsSql.getRunById(db, runId));
  }
  listRuns(query: ListRunsQuery) {
    return this.db.run(db => runsSql.listRuns(db, query));
  }
  transitionRun(
    runId: string,
    to: FlowRunState,
    options: TransitionOptions<FlowRunState> = {}
  ) {
    return this.db.tx(db => runsSql.transitionRun(db, runId, to, options));
  }
  claimNextPendingRun(options: ClaimOptions) {
    return this.db.tx(db => runsSql.claimNextPendingRun(db, options));
  }
  renewLease(runId: string, owner: string, leaseMs: number) {
    return this.db.run(db => runsSql.renewLease(db, runId, owner, leaseMs));
  }
  registerWorker(worker: WorkerRegistration) {
    return this.db.run(db => workersSql.registerWorker(db, worker));
  }

  heartbeatWorker(id: string, draining?: boolean) {
    return this.db.run(db => workersSql.heartbeatWorker(db, id, draining));
  }

  removeWorker(id: string) {
    return this.db.run(db => workersSql.removeWorker(db, id));
  }

  listWorkers(since: Date) {
    // Two statements that need not be atomic (forget the quiet, read the rest): no transaction, two
    // round trips to the store fewer on every read of a list with Pending runs.
    return this.db.run(db => workersSql.listWorkers(db, since));
  }

  listRunningLeaseOwners() {
    return this.db.run(db => listRunningLeaseOwners(db));
  }
  crashRunningRuns(reason: string, filter: CrashFilter = {}) {
    return this.db.tx(db => crashRunningRuns(db, reason, filter));
  }
  pruneRuns(policy: PruneRunsPolicy, batch = 1000) {
    return this.db.tx(db => pruneRuns(db, policy, batch));
  }

  createTaskRuns(flowRunId: string, taskNames: string[]) {
    return this.db.tx(db => tasksSql.createTaskRuns(db, flowRunId, taskNames));
  }
  transitionTaskRun(
    taskRunId: string,
    to: TaskRunState,
    options: TaskTransitionOptions = {}
  ) {
    return this.db.tx(db =>
      tasksSql.transitionTaskRun(db, taskRunId, to, options)
    );
  }
  transitionTaskRuns(steps: TaskTransitionStep[]) {
    return this.db.tx(db => tasksSql.transitionTaskRuns(db, steps));
  }
  saveAttemptOutputs(
    attemptId: string,
    outputs: unknown[],
    truncated: boolean
  ) {
    return this.db.run(db =>
      tasksSql.saveAttemptOutputs(db, attemptId, outputs, truncated)
    );
  }

  appendLogLines(lines: NewLogLine[]) {
    return this.db.run(db => logsSql.appendLogLines(db, lines));
  }
  listLogLines(
    workspaceId: string,
    flowRunId: string,
    query: { taskName?: string; afterId?: number; limit?: number } = {}
  ) {
    return this.db.tx(db =>
      logsSql.listLogLines(db, workspaceId, flowRunId, query)
    );
  }
  saveExecutedNotebook(flowRunId: string, notebook: unknown) {
    return this.db.run(db =>
      logsSql.saveExecutedNotebook(db, flowRunId, notebook)
    );
  }
  getExecutedNotebook(workspaceId: string, flowRunId: string) {
    return this.db.run(db =>
      logsSql.getExecutedNotebook(db, workspaceId, flowRunId)
    );
  }

  async createSchedule(
    workspaceId: string,
    flowId: string,
    input: unknown,
    now: Date = new Date()
  ) {
    // Validated before the transaction opens: an invalid schedule never reaches the database.
    schedulesSql.checkScheduleInput(input);
    return this.db.tx(db =>
      schedulesSql.createSchedule(db, workspaceId, flowId, input, now)
    );
  }
  listSchedules(workspaceId: string, flowId?: string) {
    return this.db.run(db =>
      schedulesSql.listSchedules(db, workspaceId, flowId)
    );
  }
  getSchedule(workspaceId: string, scheduleId: string) {
    return this.db.run(db =>
      schedulesSql.getSchedule(db, workspaceId, scheduleId)
    );
  }
  async updateSchedule(
    workspaceId: string,
    scheduleId: string,
    input: unknown,
    options: { now?: Date; expectedRevision?: number } = {}
  ) {
    schedulesSql.checkScheduleInput(input);
    return this.db.tx(db =>
      schedulesSql.updateSchedule(
        db,
        workspaceId,
        scheduleId,
        input,
        options.now ?? new Date(),
        options.expectedRevision
      )
    );
  }
  async setSchedulePaused(
    workspaceId: string,
    scheduleId: string,
    paused: boolean,
    now: Date = new Date()
  ) {
    return this.db.tx(async db => {
      const current = await schedulesSql.getSchedule(
        db,
        workspaceId,
        scheduleId
      );
      if (!current) {
        throw new NotFoundError('Schedule', scheduleId);
      }
      return schedulesSql.updateSchedule(
        db,
        workspaceId,
        scheduleId,
        {
          ...current.spec,
          paused,
          parameters: current.parameters,
          missedPolicy: current.missedPolicy
        },
        now
      );
    });
  }
  deleteSchedule(workspaceId: string, scheduleId: string) {
    return this.db.tx(db =>
      schedulesSql.deleteSchedule(db, workspaceId, scheduleId)
    );
  }
  deleteFutureScheduledRuns(scheduleId: string, reason = 'schedule changed') {
    return this.db.tx(async db =>
      (await schedulesSql.deleteNotStartedRuns(db, scheduleId, reason)).map(
        r => r.id
      )
    );
  }
  setFlowOverlap(
    workspaceId: string,
    flowId: string,
    overlap: OverlapPolicy,
    maxConcurrent: number | null
  ) {
    return this.db.tx(db =>
      schedulesSql.setFlowOverlap(
        db,
        workspaceId,
        flowId,
        overlap,
        maxConcurrent
      )
    );
  }
  listActiveSchedules() {
    return this.db.run(db => schedulesSql.listActiveSchedules(db));
  }
  planScheduledRuns(input: PlanScheduledRunsInput) {
    return this.db.tx(db => schedulesSql.planScheduledRuns(db, input));
  }
  listOverdueScheduledRuns(scheduleId: string, before: Date) {
    return this.db.run(db =>
      schedulesSql.listOverdueScheduledRuns(db, scheduleId, before)
    );
  }
  schedulerAgenda(now: Date) {
    // One snapshot, so the due flows and the next time agree.
    return this.db.tx(db => schedulesSql.schedulerAgenda(db, now));
  }
  releaseDueRuns(flowId: string, now: Date, lateAfterMs: number) {
    return this.db.tx(db =>
      schedulesSql.releaseDueRuns(db, flowId, now, lateAfterMs)
    );
  }

  createNotificationRule(input: NewNotificationRule) {
    return this.db.tx(db => notifySql.createRule(db, input));
  }
  listNotificationRules(workspaceId: string, flowId?: string) {
    return this.db.run(db => notifySql.listRules(db, workspaceId, flowId));
  }
  getNotificationRuleSecret(workspaceId: string, ruleId: string) {
    return this.db.run(db => notifySql.getRuleSecret(db, workspaceId, ruleId));
  }
  deleteNotificationRule(workspaceId: string, ruleId: string) {
    return this.db.run(db => notifySql.deleteRule(db, workspaceId, ruleId));
  }
  listNotificationDeliveries(query: ListDeliveriesQuery) {
    return this.db.run(db => notifySql.listDeliveries(db, query));
  }
  claimNotificationDeliveries(
    limit: number,
    leaseMs: number,
    now: Date = new Date()
  ) {
    return this.db.tx(db => notifySql.claimDeliveries(db, limit, leaseMs, now));
  }
  finishNotificationDelivery(
    id: string,
    outcome: DeliveryOutcome,
    now: Date = new Date()
  ) {
    return this.db.tx(db => notifySql.finishDelivery(db, id, outcome, now));
  }

  appendEvent(event: NewEvent) {
    return this.db.run(db => insertEvent(db, event));
  }
  listEvents(query: ListEventsQuery) {
    return this.db.run(db => listEvents(db, query));
  }
  latestEventId(workspaceId: string) {
    return this.db.run(db => latestEventId(db, workspaceId));
  }
}
