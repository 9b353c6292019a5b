/**
 * The Store: everything the API, the executor and the scheduler read or write. One interface, two
 * back ends (embedded PGlite and PostgreSQL), the same SQL. Reads that a user can reach take the
 * workspace id, so one workspace can never see another's rows; writes from the executor go by id.
 */
import type { MissedPolicy, ScheduleSpec } from '../../../src/flow/schedule.js';
import type {
  apiKeys,
  events,
  executedNotebooks,
  flowRuns,
  flows,
  flowVersions,
  logLines,
  schedules,
  secrets,
  taskAttempts,
  taskRuns,
  workers,
  workspaces
} from './schema.js';
import type { FlowRunState, TaskRunState } from './states.js';
import type {
  DeliveryState,
  NotificationEvent,
  NotificationKind
} from '../../../src/flow/notification-kinds.js';

export type { FlowRunState, TaskRunState } from './states.js';

export type Workspace = typeof workspaces.$inferSelect;
/** An API key as listed: never the secret, never its hash. */
export type ApiKeyInfo = Omit<typeof apiKeys.$inferSelect, 'hash'>;
export type Flow = typeof flows.$inferSelect;
export type FlowVersion = typeof flowVersions.$inferSelect;
export type FlowRun = Omit<typeof flowRuns.$inferSelect, 'state'> & {
  state: FlowRunState;
};
export type TaskRun = Omit<typeof taskRuns.$inferSelect, 'state'> & {
  state: TaskRunState;
};
export type TaskAttemptState =
  'Running' | 'Completed' | 'Failed' | 'Crashed' | 'Cancelled';
export type TaskAttempt = Omit<typeof taskAttempts.$inferSelect, 'state'> & {
  state: TaskAttemptState;
};
export type LogLine = typeof logLines.$inferSelect;
export type CellflowEvent = typeof events.$inferSelect;
export type ExecutedNotebook = typeof executedNotebooks.$inferSelect;
export { RUN_TRIGGERS, type RunTrigger } from '../../../src/flow/run-states.js';
import type { RunTrigger } from '../../../src/flow/run-states.js';
/** A workspace secret as listed: its name and times, never its value or ciphertext. */
export type SecretInfo = Pick<
  typeof secrets.$inferSelect,
  'name' | 'createdAt' | 'updatedAt'
>;
/** A cached task result as stored (sql/task-cache.ts); `entry` is the cache's own JSON. */
export interface TaskCacheRow {
  workspaceId: string;
  cacheKey: string;
  taskName: string;
  flowRunId: string;
  entry: unknown;
  sizeBytes: number;
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt: Date;
}

export interface NewTaskCacheEntry {
  cacheKey: string;
  taskName: string;
  flowRunId: string;
  entry: unknown;
  createdAt: Date;
  expiresAt: Date;
}

export interface SecretCiphertext {
  name: string;
  ciphertext: string;
}

export type OverlapPolicy = 'queue' | 'skip' | 'parallel';

/** Most automatic retries of a crashed run a flow may ask for. */
export const FLOW_RETRIES_MAX = 10;
/** Longest wait before such a retry starts, in seconds. */
export const FLOW_RETRY_DELAY_MAX = 3600;

/** A flow's automatic retries of crashed runs; an absent field is left as it is. */
export interface FlowRetrySettings {
  retries?: number;
  retryDelay?: number;
  /** The work pool whose workers execute the flow's runs (POOL_NAME). */
  pool?: string;
}

/** A stored schedule: its timing (validated) in `spec`, the rest in its own fields. */
export type Schedule = Omit<
  typeof schedules.$inferSelect,
  'spec' | 'missedPolicy'
> & {
  spec: ScheduleSpec;
  missedPolicy: MissedPolicy;
  /** The workspace of its flow. */
  workspaceId: string;
};

export interface ScheduleChange {
  schedule: Schedule;
  /** The not-started runs the change removed (the scheduler plans anew). */
  removedRuns: string[];
}

/** A schedule the scheduler plans, with what it needs of the flow. */
export type ActiveSchedule = Schedule & {
  flowPaused: boolean;
  latestVersion: number;
};

export interface PlannedTick {
  scheduledAt: Date;
  parameters: Record<string, unknown>;
  /** Record the tick as a Skipped run with this reason (missed while no scheduler ran). */
  skipReason?: string;
}

export interface PlanScheduledRunsInput {
  scheduleId: string;
  /** The revision the ticks were computed from: if the schedule changed since, nothing is written. */
  revision: number;
  flowVersion: number;
  ticks: PlannedTick[];
  /** Every tick up to this time now has its run. */
  plannedUntil: Date;
}

export interface PlanResult {
  /** The schedule changed, was paused or deleted since it was read: nothing was written. */
  stale: boolean;
  /** The runs created (ticks that had one already are left out). */
  created: FlowRun[];
  workspaceId: string | null;
}

export interface ReleaseResult {
  workspaceId: string | null;
  /** Moved to Pending: the run service may claim them. */
  released: FlowRun[];
  /** Overlap 'skip', or the flow is paused. */
  skipped: FlowRun[];
  /** Marked Late by this call. */
  late: FlowRun[];
  /** Due but held back by the overlap policy (Scheduled or Late). */
  waiting: FlowRun[];
}

export interface SchedulerAgenda {
  /** Flows with Scheduled or Late runs due at or before now. */
  dueFlowIds: string[];
  /** The earliest time after now at which a not-started run falls due. */
  nextDueAt: Date | null;
}

/** Which ended runs retention removes: either rule is enough (none given: none removed). */
export interface PruneRunsPolicy {
  /** Only this workspace's runs (default: every workspace's). */
  workspaceId?: string;
  /** Runs that ended before this time. */
  endedBefore?: Date;
  /** Runs beyond the newest N of their flow (runs not yet ended count among the N). */
  keepPerFlow?: number;
}

/** A task run with its attempts, oldest first (`attempts` is their count). */
export type TaskRunDetail = TaskRun & { attemptList: TaskAttempt[] };
/** A flow run with its task runs, in creation order. */
export type FlowRunDetail = FlowRun & { taskRuns: TaskRunDetail[] };

export interface CreatedApiKey {
  key: ApiKeyInfo;
  /** The secret, shown once: the store keeps only its SHA-256. */
  secret: string;
}

export interface ApiKeyMatch {
  key: ApiKeyInfo & { hash: string };
  workspace: Workspace;
}

export interface DeployInput {
  workspaceId: string;
  name: string;
  spec: unknown;
  notebook: unknown;
  kernelName: string;
}

export interface CreateRunInput {
  workspaceId: string;
  flowId: string;
  /** Defaults to the flow's latest version. */
  flowVersion?: number;
  trigger: RunTrigger;
  /** Where the run starts: Scheduled (waits for its time) or Pending (ready for a worker). */
  state?: 'Scheduled' | 'Pending';
  scheduleId?: string | null;
  scheduledAt?: Date | null;
  parameters?: Record<string, unknown>;
}

export interface ListRunsQuery {
  workspaceId: string;
  flowId?: string;
  state?: FlowRunState | FlowRunState[];
  /** Only runs whose id starts with this (lower-case hex and dashes: the short ids people copy). */
  idPrefix?: string;
  trigger?: RunTrigger | RunTrigger[];
  /** Only runs whose time (started, else due, else made) is at or after `from` and before `to`. */
  from?: Date;
  to?: Date;
  /** At most 500; default 50. */
  limit?: number;
  offset?: number;
  /** From a previous page's nextCursor; newest-first keyset paging that ignores rows added meanwhile. */
  cursor?: string;
}

export interface RunPage {
  runs: FlowRun[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export interface TransitionOptions<S extends string> {
  /** When given, the run must belong to this workspace (else NotFoundError): for API callers. */
  workspaceId?: string;
  /** The state the caller believes the run is in; if it is not, the change is refused as a conflict. */
  from?: S;
  /** Why (shown to users): 'Cancelled by user', 'Server restarted', ... */
  reason?: string | null;
  /** The error text for Failed/Crashed. */
  error?: string | null;
}

export interface AttemptError {
  name: string;
  value: string;
  traceback?: string[];
}

export interface TaskTransitionOptions extends TransitionOptions<TaskRunState> {
  /** For a transition that ends an attempt (to Failed, Crashed, AwaitingRetry, ...). */
  attemptError?: AttemptError | null;
  /**
   * When it happened (default: now). The run loop's own time: writes are queued behind outputs and
   * logs, so the time of the write would add their lag to every start, end and duration.
   */
  at?: Date;
  /** To AwaitingRetry: when the next attempt starts, told in the event so a UI can count down. */
  retryAt?: Date;
}

export interface TaskTransitionResult {
  taskRun: TaskRun;
  /** The attempt begun (to Running/Retrying) or ended by this transition, if any. */
  attempt: TaskAttempt | null;
}

export interface TaskTransitionStep {
  taskRunId: string;
  to: TaskRunState;
  options?: TaskTransitionOptions;
}

export interface NewLogLine {
  flowRunId: string;
  taskName?: string | null;
  attempt?: number | null;
  stream: string;
  text: string;
  at?: Date;
}

export interface NewEvent {
  workspaceId: string;
  flowId?: string | null;
  flowRunId?: string | null;
  type: string;
  payload?: Record<string, unknown>;
}

export interface ListEventsQuery {
  workspaceId: string;
  /** Only events with a larger id (the last id a client saw); 0 or absent for all. */
  afterId?: number;
  flowId?: string;
  flowRunId?: string;
  /** Default 1000. */
  limit?: number;
}

export interface ClaimOptions {
  /** Who holds the lease (a worker id). */
  owner: string;
  leaseMs: number;
  workspaceId?: string;
  /** Only runs of flows in these work pools (default: every pool). */
  pools?: readonly string[];
}

/** The pool a flow names when it names none. */
export const DEFAULT_POOL = 'default';
/** A pool's name: letters, digits, `-` and `_`, as in a host name. */
export const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** Throws a RangeError naming `what` (`pool`, `--pool`) unless `pool` is a pool name (POOL_NAME). */
export function checkPoolName(pool: string, what = 'pool'): void {
  if (!POOL_NAME.test(pool)) {
    throw new RangeError(
      `${what} must be letters, digits, "-" and "_" (at most 63), got ${JSON.stringify(pool)}`
    );
  }
}

export type Worker = typeof workers.$inferSelect;

export interface WorkerRegistration {
  id: string;
  name: string;
  pools: readonly string[];
  host: string;
}

export interface CrashFilter {
  /** Only runs leased by this owner (a worker restarting). */
  leaseOwner?: string;
  /** Only runs whose lease ran out before this time (a dead worker's runs). */
  leaseExpiredBefore?: Date;
  /** Only runs leased by one of these owners (a predecessor's, whatever their lease). */
  leaseOwners?: string[];
}

/** A notification rule as listed: its destination masked, never its ciphertext. */
export interface NotificationRule {
  id: string;
  workspaceId: string;
  /** null: every flow of the workspace. */
  flowId: string | null;
  events: NotificationEvent[];
  kind: NotificationKind;
  targetMasked: string;
  createdAt: Date;
}

/** A rule with its sealed destination (server/src/notifications opens it). */
export type NotificationRuleSecret = NotificationRule & {
  targetCiphertext: string;
};

export interface NewNotificationRule {
  /** Chosen by the caller: the destination is sealed with the rule id as associated data. */
  id: string;
  workspaceId: string;
  flowId: string | null;
  events: readonly NotificationEvent[];
  kind: NotificationKind;
  targetCiphertext: string;
  targetMasked: string;
}

export interface NotificationDelivery {
  id: string;
  seq: number;
  ruleId: string;
  workspaceId: string;
  flowId: string | null;
  flowRunId: string;
  event: NotificationEvent;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  failures: { at: string; error: string }[];
  createdAt: Date;
  deliveredAt: Date | null;
  kind: NotificationKind;
  targetMasked: string;
}

/** A delivery claimed for sending, with its rule's sealed destination. */
export type ClaimedDelivery = NotificationDelivery & {
  targetCiphertext: string;
};

/** A send's outcome; a failure with retryAt null gives the delivery up (Failed). */
export type DeliveryOutcome =
  { ok: true } | { ok: false; error: string; retryAt: Date | null };

export interface ListDeliveriesQuery {
  workspaceId: string;
  /** A flow's deliveries (those of rules for every flow included). */
  flowId?: string;
  flowRunId?: string;
  ruleId?: string;
  state?: DeliveryState;
  /** At most 500; default 50. */
  limit?: number;
}

export interface Store {
  readonly kind: 'pglite' | 'postgres';

  // Workspaces
  ensureWorkspace(name: string): Promise<Workspace>;
  getWorkspace(id: string): Promise<Workspace | null>;
  /** Looks a workspace up by name without creating it (ensureWorkspace creates). */
  findWorkspaceByName(name: string): Promise<Workspace | null>;

  // API keys
  createApiKey(workspaceId: string, name: string): Promise<CreatedApiKey>;
  listApiKeys(workspaceId: string): Promise<ApiKeyInfo[]>;
  /** True if the key existed in the workspace and was not already revoked. */
  revokeApiKey(workspaceId: string, keyId: string): Promise<boolean>;
  /** Revoked keys are returned too (with revokedAt): the caller decides. */
  findApiKeyByHash(hash: string): Promise<ApiKeyMatch | null>;
  touchApiKey(keyId: string, at?: Date): Promise<void>;

  // Task cache (per workspace; never shared across workspaces)
  /** The entry under the key unless it expired by `now`; marks it used at `now`. */
  getTaskCacheEntry(
    workspaceId: string,
    cacheKey: string,
    now: Date
  ): Promise<TaskCacheRow | null>;
  /**
   * Stores (or replaces) an entry, drops the workspace's expired entries and evicts the least recently
   * used until the workspace's entries total at most `maxBytes`; returns the keys removed. An entry
   * larger than `maxBytes` on its own is refused (RangeError).
   */
  putTaskCacheEntry(
    workspaceId: string,
    entry: NewTaskCacheEntry,
    maxBytes: number
  ): Promise<{ evicted: string[] }>;

  // Secrets (ciphertext only: encrypting is the caller's, see server/src/secrets)
  /** Inserts or replaces the secret; `created` says which. A replace advances updatedAt. */
  putSecret(
    workspaceId: string,
    name: string,
    ciphertext: string
  ): Promise<SecretInfo & { created: boolean }>;
  /** By name (byte order, the same on both back ends); never the ciphertext. */
  listSecrets(workspaceId: string): Promise<SecretInfo[]>;
  /** For decrypting the workspace's secrets into a kernel's environment; by name. */
  getSecretCiphertexts(workspaceId: string): Promise<SecretCiphertext[]>;
  /** False if the workspace had no secret of that name. */
  deleteSecret(workspaceId: string, name: string): Promise<boolean>;

  // Flows
  /** Creates the flow on its first deploy, else adds the next immutable version. */
  deployFlow(input: DeployInput): Promise<{ flow: Flow; version: FlowVersion }>;
  listFlows(workspaceId: string): Promise<Flow[]>;
  getFlow(workspaceId: string, flowId: string): Promise<Flow | null>;
  getFlowByName(workspaceId: string, name: string): Promise<Flow | null>;
  /** The given version, or the latest when omitted. */
  getFlowVersion(
    workspaceId: string,
    flowId: string,
    version?: number
  ): Promise<FlowVersion | null>;
  setFlowPaused(
    workspaceId: string,
    flowId: string,
    paused: boolean
  ): Promise<Flow>;
  /** Sets the flow's automatic retries of crashed runs (RangeError past the bounds). */
  setFlowRetries(
    workspaceId: string,
    flowId: string,
    settings: FlowRetrySettings
  ): Promise<Flow>;
  /** Deletes the flow with its versions, schedules and runs; events stay. False if not found. */
  deleteFlow(workspaceId: string, flowId: string): Promise<boolean>;

  // Runs
  createRun(input: CreateRunInput): Promise<FlowRun>;
  /** For the scheduler: creates the run for a schedule tick unless one exists (then returns null). */
  createScheduledRunIfAbsent(
    input: CreateRunInput & { scheduleId: string; scheduledAt: Date }
  ): Promise<FlowRun | null>;
  getRun(workspaceId: string, runId: string): Promise<FlowRunDetail | null>;
  /** For the executor, which works across workspaces. */
  getRunById(runId: string): Promise<FlowRun | null>;
  listRuns(query: ListRunsQuery): Promise<RunPage>;
  transitionRun(
    runId: string,
    to: FlowRunState,
    options?: TransitionOptions<FlowRunState>
  ): Promise<FlowRun>;
  /** Claims the oldest Pending run: moves it to Running under a lease, skipping rows others hold. */
  claimNextPendingRun(options: ClaimOptions): Promise<FlowRun | null>;
  /** Extends the lease of a Running run this owner holds; false if it lost it. */
  renewLease(runId: string, owner: string, leaseMs: number): Promise<boolean>;
  /** The distinct lease owners of the Running runs (across workspaces). */
  listRunningLeaseOwners(): Promise<string[]>;

  // Workers: the processes that execute runs, and the pools they serve
  /** Records (or renews) a worker and its pools, heartbeat now. */
  registerWorker(worker: WorkerRegistration): Promise<void>;
  /** Renews a worker's heartbeat (and says whether it drains); false when it is not registered. */
  heartbeatWorker(id: string, draining?: boolean): Promise<boolean>;
  removeWorker(id: string): Promise<void>;
  /** Workers whose heartbeat is newer than `since`, oldest first; those older are deleted. */
  listWorkers(since: Date): Promise<Worker[]>;
  /** Marks Running runs (all, or those matching the filter) Crashed with the reason; returns them. */
  crashRunningRuns(reason: string, filter?: CrashFilter): Promise<FlowRun[]>;
  /**
   * Removes at most `batch` (default 1000) ended runs the policy says go, with their tasks, attempts,
   * outputs, logs, executed notebook and events; returns their ids. Runs not ended are kept.
   */
  pruneRuns(policy: PruneRunsPolicy, batch?: number): Promise<string[]>;

  // Task runs
  createTaskRuns(flowRunId: string, taskNames: string[]): Promise<TaskRun[]>;
  /** To Running/Retrying begins a new attempt; leaving them ends it with the matching state. */
  transitionTaskRun(
    taskRunId: string,
    to: TaskRunState,
    options?: TaskTransitionOptions
  ): Promise<TaskTransitionResult>;
  /**
   * Several task-run transitions in one transaction, in order (the run service's writes, batched off
   * the run loop's path): all or none. Results in the steps' order. (Outputs are saved apart, by
   * saveAttemptOutputs: a write that grows the store, which a full disk must be able to refuse alone.)
   */
  transitionTaskRuns(
    steps: TaskTransitionStep[]
  ): Promise<TaskTransitionResult[]>;
  saveAttemptOutputs(
    attemptId: string,
    outputs: unknown[],
    truncated: boolean
  ): Promise<void>;
  appendLogLines(lines: NewLogLine[]): Promise<LogLine[]>;
  listLogLines(
    workspaceId: string,
    flowRunId: string,
    query?: { taskName?: string; afterId?: number; limit?: number }
  ): Promise<LogLine[]>;
  saveExecutedNotebook(flowRunId: string, notebook: unknown): Promise<void>;
  getExecutedNotebook(
    workspaceId: string,
    flowRunId: string
  ): Promise<unknown | null>;

  // Schedules (validated with validateSchedule before anything is stored: InvalidScheduleError)
  createSchedule(
    workspaceId: string,
    flowId: string,
    input: unknown,
    now?: Date
  ): Promise<Schedule>;
  /** The flow's schedules, or every schedule of the workspace when flowId is omitted. */
  listSchedules(workspaceId: string, flowId?: string): Promise<Schedule[]>;
  getSchedule(
    workspaceId: string,
    scheduleId: string
  ): Promise<Schedule | null>;
  /** Replaces the schedule and removes its not-started runs; ScheduleConflictError on a stale revision. */
  updateSchedule(
    workspaceId: string,
    scheduleId: string,
    input: unknown,
    options?: { now?: Date; expectedRevision?: number }
  ): Promise<ScheduleChange>;
  setSchedulePaused(
    workspaceId: string,
    scheduleId: string,
    paused: boolean,
    now?: Date
  ): Promise<ScheduleChange>;
  /** Deletes the schedule and its not-started runs (started ones stay, unlinked). False if not found. */
  deleteSchedule(workspaceId: string, scheduleId: string): Promise<boolean>;
  /** Deletes the schedule's Scheduled and Late runs; returns their ids. */
  deleteFutureScheduledRuns(
    scheduleId: string,
    reason?: string
  ): Promise<string[]>;
  setFlowOverlap(
    workspaceId: string,
    flowId: string,
    overlap: OverlapPolicy,
    maxConcurrent: number | null
  ): Promise<Flow>;

  // The scheduler (across workspaces)
  listActiveSchedules(): Promise<ActiveSchedule[]>;
  planScheduledRuns(input: PlanScheduledRunsInput): Promise<PlanResult>;
  listOverdueScheduledRuns(
    scheduleId: string,
    before: Date
  ): Promise<FlowRun[]>;
  schedulerAgenda(now: Date): Promise<SchedulerAgenda>;
  releaseDueRuns(
    flowId: string,
    now: Date,
    lateAfterMs: number
  ): Promise<ReleaseResult>;

  // Notifications (destinations sealed by the caller, see server/src/notifications)
  createNotificationRule(input: NewNotificationRule): Promise<NotificationRule>;
  /** The workspace's rules (only the flow's when flowId is given), oldest first. */
  listNotificationRules(
    workspaceId: string,
    flowId?: string
  ): Promise<NotificationRule[]>;
  getNotificationRuleSecret(
    workspaceId: string,
    ruleId: string
  ): Promise<NotificationRuleSecret | null>;
  /** Deletes the rule and its deliveries; false if not found. */
  deleteNotificationRule(workspaceId: string, ruleId: string): Promise<boolean>;
  /** Newest first. */
  listNotificationDeliveries(
    query: ListDeliveriesQuery
  ): Promise<NotificationDelivery[]>;
  /** For the delivery loop (across workspaces): claims due deliveries under a lease, skipping locked ones. */
  claimNotificationDeliveries(
    limit: number,
    leaseMs: number,
    now?: Date
  ): Promise<ClaimedDelivery[]>;
  finishNotificationDelivery(
    id: string,
    outcome: DeliveryOutcome,
    now?: Date
  ): Promise<void>;

  // Events
  appendEvent(event: NewEvent): Promise<CellflowEvent>;
  listEvents(query: ListEventsQuery): Promise<CellflowEvent[]>;
  /**
   * The id of the last event of the workspace a reader can see now, in listEvents' order (0: none):
   * listEvents after it returns only what becomes visible from now on.
   */
  latestEventId(workspaceId: string): Promise<number>;

  close(): Promise<void>;
}
