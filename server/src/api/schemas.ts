/**
 * JSON schemas of the API, for the routes (Fastify serialises with them, so no stray column such as a
 * key hash can leak) and the OpenAPI document. The schemas of what the API answers are shared with
 * the lab and the CLI, which derive their types from them: they live in src/api/wire-schemas.ts.
 */
import { errorSchema } from './errors.js';

export {
  dateTime,
  eventSchema,
  flowRunDetailSchema,
  flowRunSchema,
  flowSchema,
  flowVersionSchema,
  logLineSchema,
  meSchema,
  notificationDeliverySchema,
  notificationRuleSchema,
  overlapSchema,
  scheduleSchema,
  secretSchema,
  taskAttemptSchema,
  taskRunSchema,
  workerSchema
} from '../../../src/api/wire-schemas.js';

/**
 * The largest event or log line id a query may ask after: ids are bigint columns, read as JS numbers,
 * so the largest safe integer (a larger one is a database error, not a page).
 */
export const MAX_EVENT_ID = Number.MAX_SAFE_INTEGER;

export const idParam = (name: string) =>
  ({
    type: 'object',
    properties: { [name]: { type: 'string', minLength: 1, maxLength: 200 } },
    required: [name],
    additionalProperties: false
  }) as const;

/** The error responses every authenticated route can give. */
export const errorResponses = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema
} as const;
