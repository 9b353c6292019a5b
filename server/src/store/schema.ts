/**
 * The store's tables as drizzle sees them. The database itself is made by the numbered SQL files in
 * server/migrations (the source of truth); these definitions must match them, and a test checks that
 * every column named here exists in a migrated database.
 */
import {
  bigint,
  bigserial,
  boolean,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique
} from 'drizzle-orm/pg-core';

const ts = (name: string) =>
  timestamp(name, { withTimezone: true, mode: 'date' });

export const workspaces = pgTable('workspaces', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  createdAt: ts('created_at').notNull().defaultNow()
});

export const apiKeys = pgTable('api_keys', {
  id: text('id').primaryKey(),
  workspaceId: text('workspace_id')
    .notNull()
    .references(() => workspaces.id, { onDelete: 'cascade' }),
  name: text('name').notNull(),
  prefix: text('prefix').notNull(),
  hash: text('hash').notNull().unique(),
  createdAt: ts('created_at').notNull().defaultNow(),
  lastUsedAt: ts('last_used_at'),
  revokedAt: ts('revoked_at')
});

export const flows = pgTable(
  'flows',
  {
    id: text('id').primaryKey(),
    workspaceId: text('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    paused: boolean('paused').notNull().default(false),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    latestVersion: integer('latest_version').notNull().default(0),
    overlap: text('overlap')
      .$type<'queue' | 'skip' | 'parallel'>()
      .notNull()
      .default('queue'),
    maxConcurrent: integer('max_concurrent'),
    /** Automatic retries of a crashed run (0..10), each after retryDelay seconds (0..3600). */
    retries: integer('retries').notNull().default(0),
    retryDelay: integer('retry_delay').notNull().default(0),
    /** The work pool whose workers execute its runs (migration 0006). */
    pool: text('pool').notNull().default('default')
  },
  t => [unique('flows_workspace_name_key').on(t.workspaceId, t.name)]
);

export const flowVersions = pgTable(
  'flow_versions',
  {
    flowId: text('flow_id')
      .notNull()
      .references(() => flows.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    spec: jsonb('spec').$type<unknown>().notNull(),
    notebook: jsonb('notebook').$type<unknown>().notNull(),
    kernelName: text('kernel_name').notNull(),
    createdAt: ts('created_at').notNull().defaultNow()
  },
  t => [primaryKey({ columns: [t.flowId, t.version] })]
);

export const schedules = pgTable('schedules', {
  id: text('id').primaryKey(),
  flowId: text('flow_id')
    .notNull()
    .references(() => flows.id, { onDelete: 'cascade' }),
  kind: text('kind').$type<'interval' | 'cron'>().notNull(),
  spec: jsonb('spec').$type<unknown>().notNull(),
  paused: boolean('paused').notNull().default(false),
  parameters: jsonb('parameters')
    .$type<Record<string, unknown>>()
    .notNull()
    .default({}),
  missedPolicy: text('missed_policy')
    .$type<'skip' | 'latest' | 'all'>()
    .notNull()
    .default('skip'),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
  revision: integer('revision').notNull().default(1),
  plannedUntil: ts('planned_until')
});

export const flowRuns = pgTable(
  'flow_runs',
  {
    id: text('id').primaryKey(),
    seq: bigserial('seq', { mode: 'number' }).notNull().unique(),
    workspaceId: text('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    flowId: text('flow_id')
      .notNull()
      .references(() => flows.id, { onDelete: 'cascade' }),
    flowVersion: integer('flow_version').notNull(),
    state: text('state').notNull(),
    trigger: text('trigger')
      .$type<'manual' | 'scheduled' | 'retry'>()
      .notNull(),
    scheduleId: text('schedule_id').references(() => schedules.id, {
      onDelete: 'set null'
    }),
    scheduledAt: ts('scheduled_at'),
    startedAt: ts('started_at'),
    endedAt: ts('ended_at'),
    parameters: jsonb('parameters')
      .$type<Record<string, unknown>>()
      .notNull()
      .default({}),
    error: text('error'),
    stateReason: text('state_reason'),
    createdAt: ts('created_at').notNull().defaultNow(),
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: ts('lease_expires_at')
  },
  t => [
    unique('flow_runs_schedule_tick_key').on(
      t.flowId,
      t.scheduleId,
      t.scheduledAt
    )
  ]
);

export const taskRuns = pgTable(
  'task_runs',
  {
    id: text('id').primaryKey(),
    flowRunId: text('flow_run_id')
      .notNull()
      .references(() => flowRuns.id, { onDelete: 'cascade' }),
    taskName: text('task_name').notNull(),
    position: integer('position').notNull().default(0),
    state: text('state').notNull(),
    attempts: integer('attempts').notNull().default(0),
    startedAt: ts('started_at'),
    endedAt: ts('ended_at'),
    error: text('error'),
    stateReason: text('state_reason')
  },
  t => [unique('task_runs_run_task_key').on(t.flowRunId, t.taskName)]
);

export const taskAttempts = pgTable(
  'task_attempts',
  {
    id: text('id').primaryKey(),
    taskRunId: text('task_run_id')
      .notNull()
      .references(() => taskRuns.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    state: text('state').notNull(),
    startedAt: ts('started_at').notNull().defaultNow(),
    endedAt: ts('ended_at'),
    errorName: text('error_name'),
    errorValue: text('error_value'),
    traceback: jsonb('traceback').$type<string[]>(),
    outputs: jsonb('outputs').$type<unknown[]>().notNull().default([]),
    outputsTruncated: boolean('outputs_truncated').notNull().default(false)
  },
  t => [unique('task_attempts_task_attempt_key').on(t.taskRunId, t.attempt)]
);

export const logLines = pgTable('log_lines', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  flowRunId: text('flow_run_id')
    .notNull()
    .references(() => flowRuns.id, { onDelete: 'cascade' }),
  taskName: text('task_name'),
  attempt: integer('attempt'),
  stream: text('stream').notNull(),
  text: text('text').notNull(),
  at: ts('at').notNull().defaultNow()
});

export const events = pgTable('events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  workspaceId: text('workspace_id')
    .notNull()
    .references(() => workspaces.id, { onDelete: 'cascade' }),
  flowId: text('flow_id'),
  flowRunId: text('flow_run_id'),
  type: text('type').notNull(),
  payload: jsonb('payload')
    .$type<Record<string, unknown>>()
    .notNull()
    .default({}),
  at: ts('at').notNull().defaultNow()
});

export const executedNotebooks = pgTable('executed_notebooks', {
  flowRunId: text('flow_run_id')
    .primaryKey()
    .references(() => flowRuns.id, { onDelete: 'cascade' }),
  notebook: jsonb('notebook').$type<unknown>().notNull(),
  savedAt: ts('saved_at').notNull().defaultNow()
});

/** Workspace secrets: only their ciphertext (see server/src/secrets/secret-box.ts), never a value. */
export const secrets = pgTable(
  'secrets',
  {
    workspaceId: text('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    ciphertext: text('ciphertext').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow()
  },
  t => [primaryKey({ columns: [t.workspaceId, t.name] })]
);

/** Cached task results (migration 0009), per workspace and cache key; see sql/task-cache.ts. */
export const taskCache = pgTable(
  'task_cache',
  {
    workspaceId: text('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    cacheKey: text('cache_key').notNull(),
    taskName: text('task_name').notNull(),
    flowRunId: text('flow_run_id').notNull(),
    entry: jsonb('entry').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    createdAt: ts('created_at').notNull(),
    expiresAt: ts('expires_at').notNull(),
    lastUsedAt: ts('last_used_at').notNull()
  },
  t => [primaryKey({ columns: [t.workspaceId, t.cacheKey] })]
);

/** A process that executes runs (a worker, or a server's executor), with the pools it serves. */
export const workers = pgTable('workers', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  pools: text('pools').array().notNull(),
  host: text('host').notNull(),
  startedAt: ts('started_at').notNull().defaultNow(),
  heartbeatAt: ts('heartbeat_at').notNull().defaultNow(),
  draining: boolean('draining').notNull().default(false)
});

/** A notification rule: which run events go to which destination (sealed: see server/src/notifications). */
export const notificationRules = pgTable('notification_rules', {
  id: text('id').primaryKey(),
  workspaceId: text('workspace_id')
    .notNull()
    .references(() => workspaces.id, { onDelete: 'cascade' }),
  flowId: text('flow_id').references(() => flows.id, { onDelete: 'cascade' }),
  events: text('events').array().notNull(),
  kind: text('kind').notNull(),
  targetCiphertext: text('target_ciphertext').notNull(),
  targetMasked: text('target_masked').notNull(),
  createdAt: ts('created_at').notNull().defaultNow()
});

/** One notification to send: queued with the run's state change, unique per (rule, run, event). */
export const notificationDeliveries = pgTable(
  'notification_deliveries',
  {
    id: text('id').primaryKey(),
    seq: bigserial('seq', { mode: 'number' }).notNull().unique(),
    ruleId: text('rule_id')
      .notNull()
      .references(() => notificationRules.id, { onDelete: 'cascade' }),
    workspaceId: text('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    flowId: text('flow_id'),
    flowRunId: text('flow_run_id').notNull(),
    event: text('event').notNull(),
    state: text('state').notNull().default('Pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    leaseExpiresAt: ts('lease_expires_at'),
    lastError: text('last_error'),
    failures: jsonb('failures')
      .$type<{ at: string; error: string }[]>()
      .notNull()
      .default([]),
    createdAt: ts('created_at').notNull().defaultNow(),
    deliveredAt: ts('delivered_at')
  },
  t => [
    unique('notification_deliveries_once_key').on(
      t.ruleId,
      t.flowRunId,
      t.event
    )
  ]
);

export const schema = {
  workspaces,
  apiKeys,
  flows,
  flowVersions,
  schedules,
  flowRuns,
  taskRuns,
  taskAttempts,
  logLines,
  events,
  executedNotebooks,
  secrets,
  taskCache,
  workers,
  notificationRules,
  notificationDeliveries
};
export type Schema = typeof schema;
