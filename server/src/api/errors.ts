/**
 * Every error the API sends has the shape `{error, message, field?}`. This file maps Fastify's own
 * errors (schema validation, bad JSON, unknown routes) and the store's typed errors onto it, so a
 * client can branch on `error` and show `message` as it is.
 */
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest
} from 'fastify';

import { UnauthorizedError } from '../auth/keys.js';
import {
  NotFoundError,
  TransitionConflictError,
  TransitionRefusedError,
  describeStoreError,
  isStoreUnavailable
} from '../store/errors.js';
import { DiskFullError } from '../store/disk-guard.js';
import { registerInputGuard } from './input-guard.js';

export type ApiErrorCode =
  | 'bad-request'
  | 'invalid-flow'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'method-not-allowed'
  | 'unsupported-media-type'
  | 'unavailable'
  | 'too-many-requests'
  | 'database-unavailable'
  | 'insufficient-storage'
  | 'internal';

/** Seconds a client is told to wait (Retry-After) while the database is unreachable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** An error a route throws on purpose: its status, code and message go to the client unchanged. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {}
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string, field?: string) =>
  new ApiError(400, 'bad-request', message, field ? { field } : {});
export const notFound = (message: string) =>
  new ApiError(404, 'not-found', message);
export const conflict = (message: string) =>
  new ApiError(409, 'conflict', message);

/** The JSON schema of an error body, for the OpenAPI document. */
export const errorSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' }
  },
  required: ['error', 'message'],
  additionalProperties: true
} as const;

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** A validation failure as `{message, field}`: the field as a dotted path (`parameters.limit`). */
export function describeValidation(error: FastifyError): {
  message: string;
  field?: string;
} {
  const first = (error.validation?.[0] ?? null) as AjvError | null;
  const where = error.validationContext ?? 'request';
  if (!first) {
    return { message: error.message };
  }
  const path = first.instancePath
    .split('/')
    .filter(Boolean)
    .map(part => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  let field = path.join('.');
  let message: string;
  if (first.keyword === 'required') {
    field = [...path, String(first.params.missingProperty)].join('.');
    message = `${where} field "${field}" is required`;
  } else if (first.keyword === 'additionalProperties') {
    field = [...path, String(first.params.additionalProperty)].join('.');
    message = `${where} field "${field}" is not allowed here`;
  } else if (field) {
    message = `${where} field "${field}" ${first.message ?? 'is invalid'}`;
  } else {
    message = `${where} ${first.message ?? 'is invalid'}`;
  }
  if (first.keyword === 'enum' && Array.isArray(first.params.allowedValues)) {
    message += `: ${first.params.allowedValues.join(', ')}`;
  }
  return field ? { message, field } : { message };
}

function send(
  reply: FastifyReply,
  status: number,
  code: ApiErrorCode,
  message: string,
  extra: Record<string, unknown> = {}
): FastifyReply {
  return reply.code(status).send({ error: code, message, ...extra });
}

/** Where an error was thrown, without its message (which the stack's first line repeats). */
function stackFrames(error: Error): string | undefined {
  return error.stack
    ?.split('\n')
    .filter(line => line.startsWith('    at '))
    .join('\n');
}

/**
 * PostgreSQL errors a client's value causes (SQLSTATE class 22, data exception: a byte sequence or
 * character the encoding cannot hold, a number out of range, text that is not of the column's type,
 * a value too long), and 54001 (a statement nested too deep). The input guard and the schemas refuse
 * these first; this is the net under them.
 */
const INPUT_SQLSTATES = new Set([
  '22021',
  '22P05',
  '22003',
  '22P02',
  '22001',
  '22007',
  '22008',
  '54001'
]);

/** The SQLSTATE of a database error, looking through wrappers (drizzle puts it in `cause`). */
function sqlState(error: unknown): string | undefined {
  for (let e = error, i = 0; e && typeof e === 'object' && i < 5; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
      return code;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A route pattern (`/api/flows/:flowId`) as a matcher of concrete paths. */
function pathMatcher(url: string): RegExp {
  const pattern = url
    .split('/')
    .map(part =>
      part.startsWith(':')
        ? '[^/]+'
        : part === '*'
          ? '.*'
          : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    )
    .join('/');
  return new RegExp(`^${pattern}/?$`);
}

export function registerErrorHandlers(app: FastifyInstance): void {
  registerInputGuard(app);
  // Every route's methods by path, so a known path asked with another method gets 405 and `Allow`.
  const routes: { match: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', route => {
    if (route.url === '*' || route.url === '/*') {
      return; // CORS preflights answer OPTIONS on any path
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const known = routes.find(
      r => r.match.source === pathMatcher(route.url).source
    );
    if (known) {
      known.methods.push(...methods.filter(m => !known.methods.includes(m)));
    } else {
      routes.push({ match: pathMatcher(route.url), methods: [...methods] });
    }
  });
  app.setErrorHandler(
    (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      if (error instanceof ApiError) {
        return send(
          reply,
          error.statusCode,
          error.code,
          error.message,
          error.extra
        );
      }
      if (error.validation) {
        const { message, field } = describeValidation(error);
        return send(reply, 400, 'bad-request', message, field ? { field } : {});
      }
      if (error instanceof UnauthorizedError) {
        return send(reply, 401, 'unauthorized', error.message);
      }
      if (error instanceof NotFoundError) {
        return send(reply, 404, 'not-found', error.message);
      }
      if (
        error instanceof TransitionConflictError ||
        error instanceof TransitionRefusedError
      ) {
        return send(reply, 409, 'conflict', error.message);
      }
      const status = error.statusCode ?? 500;
      if (request.is404 && status >= 400 && status < 500) {
        // A request no route takes that Fastify refused before the not-found handler ran (QUERY
        // without a Content-Type, a body it cannot parse): still 405 on a known path, else 404.
        return unrouted(request, reply);
      }
      if (status === 415) {
        return send(reply, 415, 'unsupported-media-type', error.message);
      }
      if (status >= 400 && status < 500) {
        // Fastify's own client errors: malformed JSON, empty JSON body, body too large, ...
        return send(reply, status, 'bad-request', error.message);
      }
      if (INPUT_SQLSTATES.has(sqlState(error) ?? '')) {
        request.log.warn(
          { error: describeStoreError(error) },
          'request refused by the database'
        );
        return send(
          reply,
          400,
          'bad-request',
          `The database cannot store a value of this request (SQLSTATE ${sqlState(error)}): check the text and numbers sent`
        );
      }
      if (error instanceof DiskFullError) {
        request.log.warn({ error: error.message }, 'disk full');
        return send(reply, 507, 'insufficient-storage', error.message);
      }
      if (isStoreUnavailable(error)) {
        request.log.warn(
          { error: describeStoreError(error) },
          'database unavailable'
        );
        reply.header('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
        return send(
          reply,
          503,
          'database-unavailable',
          'The database is unavailable (restarting or unreachable): try again in a few seconds'
        );
      }
      // Not `{ err: error }`: a store error's message and fields hold the query's parameters.
      request.log.error(
        { error: describeStoreError(error), stack: stackFrames(error) },
        'request failed'
      );
      return send(
        reply,
        500,
        'internal',
        'Internal server error: see the server log'
      );
    }
  );
  function unrouted(request: FastifyRequest, reply: FastifyReply) {
    const path = request.url.split('?')[0];
    const allowed = routes
      .filter(r => r.match.test(path))
      .flatMap(r => r.methods);
    if (allowed.length > 0) {
      const allow = [...new Set(allowed)].sort().join(', ');
      reply.header('Allow', allow);
      return send(
        reply,
        405,
        'method-not-allowed',
        `${request.method} is not allowed on ${path}: use ${allow}`
      );
    }
    return send(reply, 404, 'not-found', `No route ${request.method} ${path}`);
  }
  app.setNotFoundHandler(unrouted);
}
