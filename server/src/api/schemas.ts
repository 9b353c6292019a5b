/**
 * JSON schemas of what the API returns, shared by the routes (Fastify serialises with them, so no
 * stray column such as a key hash can leak) and by the OpenAPI document.
 */
import { FLOW_RUN_STATES, TASK_RUN_STATES } from '../store/states.js';
import { errorSchema } from './errors.js';

export const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = {
  type: ['string', 'null'],
  format: 'date-time'
} as const;
const nullableString = { type: ['string', 'null'] } as const;
/**
 * The largest event or log line id a query may ask after: ids are bigint columns, read as JS numbers,
 * so the largest safe integer (a larger one is a database error, not a page).
 */
export const MAX_EVENT_ID = Number.MAX_SAFE_INTEGER;

/** Any JSON (a flow spec, a notebook, outputs). */
const anyJson = {} as const;

export const idParam = (name: string) =>
  ({
    type: 'object',
    properties: { [name]: { type: 'string', minLength: 1, maxLength: 200 } },
    required: [name],
    additionalProperties: false
  }) as const;

export const flowSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    paused: { type: 'boolean' },
    latestVersion: { type: 'integer' },
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
  required: ['id', 'name', 'paused', 'latestVersion', 'createdAt', 'updatedAt']
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

/** The error responses every authenticated route can give. */
export const errorResponses = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema
} as const;
