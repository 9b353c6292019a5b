/**
 * The JSON schemas of what the Cellflow API answers, in one place: the server's routes serialise with
 * them (so no stray column such as a key hash can leak) and put them in the OpenAPI document, and the
 * lab's and the CLI's types are derived from them (wire-types.ts), so the three cannot drift apart.
 *
 * Plain `as const` data with no server-only import: the server compiles this file from here
 * (server/tsconfig.json), the lab imports only its types.
 */
import { LIMITS } from '../flow/limits.js';
import {
  DELIVERY_STATES,
  NOTIFICATION_EVENTS,
  NOTIFICATION_KINDS
} from '../flow/notification-kinds.js';
import { FLOW_RUN_STATES, TASK_RUN_STATES } from '../flow/run-states.js';

export const dateTime = { type: 'string', format: 'date-time' } as const;
export const nullableDateTime = {
  type: ['string', 'null'],
  format: 'date-time'
} as const;
export const nullableString = { type: ['string', 'null'] } as const;

/** Any JSON (a flow spec, a notebook, outputs). */
export const anyJson = {} as const;

export const OVERLAP_POLICIES = ['queue', 'skip', 'parallel'] as const;

export const flowSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    paused: { type: 'boolean' },
    latestVersion: { type: 'integer' },
    /** What a scheduled run does while the flow's runs are active (PATCH /api/flows/:flowId/overlap). */
    overlap: { type: 'string', enum: OVERLAP_POLICIES },
    /** Most runs at once under the overlap policy 'parallel'; null: no bound of the flow's own. */
    maxConcurrent: { type: ['integer', 'null'] },
    /** Automatic retries of a crashed run, and the seconds before each. */
    retries: { type: 'integer' },
    retryDelay: { type: 'integer' },
    /** The work pool whose workers execute its runs. */
    pool: { type: 'string' },
    /** When the flow's schedules next start a run (listings only); null when nothing is scheduled. */
    nextRunAt: nullableDateTime,
    createdAt: dateTime,
    updatedAt: dateTime
  },
  required: [
    'id',
    'name',
    'paused',
    'latestVersion',
    'overlap',
    'maxConcurrent',
    'createdAt',
    'updatedAt'
  ]
} as const;

export const flowVersionSchema = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    spec: anyJson,
    kernelName: { type: 'string' },
    createdAt: dateTime
  },
  required: ['version', 'spec', 'kernelName', 'createdAt']
} as const;

export const flowRunSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    seq: { type: 'integer' },
    flowId: { type: 'string' },
    flowVersion: { type: 'integer' },
    state: { type: 'string', enum: [...FLOW_RUN_STATES] },
    trigger: { type: 'string' },
    scheduleId: nullableString,
    scheduledAt: nullableDateTime,
    startedAt: nullableDateTime,
    endedAt: nullableDateTime,
    parameters: { type: 'object', additionalProperties: true },
    error: nullableString,
    stateReason: nullableString,
    createdAt: dateTime,
    /** The run this one retries (trigger 'retry' only). */
    retryOf: { type: 'string' },
    /** Why a Pending run is not taken: "a worker of pool gpu" when no live worker serves its pool. */
    waitingFor: { type: 'string' }
  },
  required: ['id', 'flowId', 'flowVersion', 'state', 'trigger', 'createdAt']
} as const;

export const taskAttemptSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    attempt: { type: 'integer' },
    state: { type: 'string' },
    startedAt: dateTime,
    endedAt: nullableDateTime,
    errorName: nullableString,
    errorValue: nullableString,
    traceback: { type: ['array', 'null'], items: { type: 'string' } },
    outputs: { type: 'array', items: anyJson },
    outputsTruncated: { type: 'boolean' }
  },
  required: ['id', 'attempt', 'state', 'startedAt', 'outputs']
} as const;

export const taskRunSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    taskName: { type: 'string' },
    position: { type: 'integer' },
    state: { type: 'string', enum: [...TASK_RUN_STATES] },
    attemptCount: { type: 'integer' },
    startedAt: nullableDateTime,
    endedAt: nullableDateTime,
    error: nullableString,
    /** Why the task is in its state: "upstream task 'extract' is Failed" for a task not run. */
    stateReason: nullableString,
    attempts: { type: 'array', items: taskAttemptSchema }
  },
  required: ['id', 'taskName', 'state', 'attemptCount', 'attempts']
} as const;

export const flowRunDetailSchema = {
  ...flowRunSchema,
  properties: {
    ...flowRunSchema.properties,
    taskRuns: { type: 'array', items: taskRunSchema }
  },
  required: [...flowRunSchema.required, 'taskRuns']
} as const;

export const logLineSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    task: nullableString,
    attempt: { type: ['integer', 'null'] },
    stream: { type: 'string' },
    text: { type: 'string' },
    at: dateTime
  },
  required: ['id', 'task', 'attempt', 'stream', 'text', 'at']
} as const;

export const eventSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    type: { type: 'string' },
    flowId: nullableString,
    flowRunId: nullableString,
    payload: { type: 'object', additionalProperties: true },
    at: dateTime
  },
  required: ['id', 'type', 'payload', 'at']
} as const;

/** A workspace secret as the API shows it: its name and times, never its value. */
export const secretSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    createdAt: dateTime,
    updatedAt: dateTime
  },
  required: ['name', 'createdAt', 'updatedAt']
} as const;

/** A notification rule: its destination only masked (the URL, secret or address is never sent back). */
export const notificationRuleSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    /** null: every flow of the workspace. */
    flowId: nullableString,
    events: {
      type: 'array',
      items: { type: 'string', enum: [...NOTIFICATION_EVENTS] }
    },
    kind: { type: 'string', enum: [...NOTIFICATION_KINDS] },
    /** The destination masked: `https://hooks.example.com/…` or `o…@example.org`. */
    target: { type: 'string' },
    createdAt: dateTime
  },
  required: ['id', 'flowId', 'events', 'kind', 'target', 'createdAt']
} as const;

export const notificationDeliverySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    ruleId: { type: 'string' },
    kind: { type: 'string', enum: [...NOTIFICATION_KINDS] },
    target: { type: 'string' },
    flowId: nullableString,
    flowRunId: { type: 'string' },
    event: { type: 'string', enum: [...NOTIFICATION_EVENTS] },
    state: { type: 'string', enum: [...DELIVERY_STATES] },
    attempts: { type: 'integer' },
    nextAttemptAt: nullableDateTime,
    lastError: nullableString,
    /** The latest failed attempts, oldest first. */
    failures: {
      type: 'array',
      items: {
        type: 'object',
        properties: { at: dateTime, error: { type: 'string' } },
        required: ['at', 'error']
      }
    },
    createdAt: dateTime,
    deliveredAt: nullableDateTime
  },
  required: [
    'id',
    'ruleId',
    'kind',
    'target',
    'flowRunId',
    'event',
    'state',
    'attempts',
    'failures',
    'createdAt'
  ]
} as const;

export const scheduleSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    flowId: { type: 'string' },
    kind: { type: 'string', enum: ['interval', 'cron'] },
    every: { type: 'integer', description: 'seconds (interval)' },
    anchor: dateTime,
    expression: { type: 'string' },
    timezone: { type: 'string' },
    start: dateTime,
    end: dateTime,
    paused: { type: 'boolean' },
    parameters: { type: 'object', additionalProperties: true },
    missedPolicy: { type: 'string', enum: ['skip', 'latest', 'all'] },
    description: { type: 'string' },
    nextRuns: {
      type: 'array',
      items: dateTime,
      description: 'the next run times (UTC); empty while paused'
    },
    /** Only on a stored schedule that cannot run (a value from before a bound): what is wrong. */
    problems: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          field: { type: 'string' },
          message: { type: 'string' }
        },
        required: ['field', 'message']
      }
    },
    revision: { type: 'integer' },
    createdAt: dateTime,
    updatedAt: dateTime
  },
  required: [
    'id',
    'flowId',
    'kind',
    'paused',
    'parameters',
    'missedPolicy',
    'description',
    'nextRuns',
    'revision',
    'createdAt',
    'updatedAt'
  ]
} as const;

/** A flow's overlap policy (GET a flow's schedules, PATCH /api/flows/:flowId/overlap). */
export const overlapSchema = {
  type: 'object',
  properties: {
    overlap: { type: 'string', enum: OVERLAP_POLICIES },
    maxConcurrent: {
      type: ['integer', 'null'],
      minimum: LIMITS.maxConcurrent.min,
      maximum: LIMITS.maxConcurrent.max
    }
  },
  required: ['overlap', 'maxConcurrent']
} as const;

/** GET /api/me: the caller's workspace and API key. */
export const meSchema = {
  type: 'object',
  properties: {
    workspace: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        name: { type: 'string' }
      },
      required: ['id', 'name']
    },
    key: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        name: { type: 'string' },
        prefix: { type: 'string' }
      },
      required: ['id', 'name', 'prefix']
    }
  },
  required: ['workspace', 'key']
} as const;

/** A live worker (or a server with an executor) and the pools it serves. */
export const workerSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    pools: { type: 'array', items: { type: 'string' } },
    draining: { type: 'boolean' },
    startedAt: dateTime,
    heartbeatAt: dateTime
  },
  required: ['name', 'pools', 'draining', 'startedAt', 'heartbeatAt']
} as const;
