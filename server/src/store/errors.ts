/** Typed store errors, so the API can map them to status codes without parsing messages. */

export { TransitionRefusedError } from './states.js';

/** The row asked for does not exist (or is not in the caller's workspace: the same thing to them). */
export class NotFoundError extends Error {
  readonly code = 'NOT_FOUND';
  constructor(
    readonly entity: string,
    readonly id: string
  ) {
    super(`${entity} ${id} not found`);
    this.name = 'NotFoundError';
  }
}

/**
 * The row was not in the state the caller expected when the write happened: another process changed
 * it first. The loser of a race gets this; the winner's change stands.
 */
export class TransitionConflictError extends Error {
  readonly code = 'TRANSITION_CONFLICT';
  constructor(
    readonly kind: 'flow_run' | 'task_run',
    readonly id: string,
    readonly expected: string,
    readonly actual: string | null
  ) {
    super(
      `${kind === 'flow_run' ? 'Flow run' : 'Task run'} ${id} is ${actual ?? 'gone'}, not ${expected}: ` +
        'another process changed it first'
    );
    this.name = 'TransitionConflictError';
  }
}

/** The database was migrated by a newer Cellflow than this one. */
export class SchemaTooNewError extends Error {
  readonly code = 'SCHEMA_TOO_NEW';
  constructor(
    readonly databaseVersion: number,
    readonly codeVersion: number
  ) {
    super(
      `The database schema is at version ${databaseVersion} but this Cellflow knows only up to ` +
        `${codeVersion}: upgrade Cellflow, or point it at another database`
    );
    this.name = 'SchemaTooNewError';
  }
}

/** Longest database message a log line shows: some messages quote a value (`invalid input syntax ...`). */
const MESSAGE_CAP = 300;

interface ErrorLike {
  message?: unknown;
  code?: unknown;
  name?: unknown;
  cause?: unknown;
  errors?: unknown;
  query?: unknown;
  params?: unknown;
}

/**
 * Drizzle's query error (`DrizzleQueryError`): its message quotes the query and its parameters, and it
 * wraps the driver's error as its cause.
 */
function isDrizzleWrapper(error: ErrorLike): boolean {
  return (
    (error as object).constructor?.name === 'DrizzleQueryError' ||
    (typeof error.message === 'string' &&
      error.message.startsWith('Failed query: '))
  );
}

function cap(text: string): string {
  const line = text.split('\n')[0];
  return line.length > MESSAGE_CAP ? `${line.slice(0, MESSAGE_CAP)}…` : line;
}

/** `insert into "log_lines"`, `select from "flows"`, `update "flow_runs"`: the statement, no values. */
export function statementName(query: string): string {
  const text = query.trim().replace(/\s+/g, ' ');
  const verb = /^(\w+)/.exec(text)?.[1]?.toLowerCase() ?? 'query';
  const table = /\b(?:into|from|update)\s+("[^"]{1,100}"|[\w.]{1,100})/i.exec(
    text
  )?.[1];
  if (!table) {
    return verb;
  }
  return verb === 'insert'
    ? `insert into ${table}`
    : verb === 'update'
      ? `update ${table}`
      : `${verb} from ${table}`;
}

/**
 * A store error as one log line: the statement (never its parameters: they may be a user's output),
 * the database's message and its code. Every log line (and stored run reason) about a failed store call
 * goes through this; any other error is shown by its message, on one bounded line.
 */
export function describeStoreError(error: unknown): string {
  if (!(error instanceof Error) && (typeof error !== 'object' || !error)) {
    return cap(String(error));
  }
  let current = error as ErrorLike;
  let statement: string | null = null;
  // Drizzle wraps the driver's error (PGlite's also carries `query` and `params`, but not in its message).
  for (let depth = 0; depth < 5; depth++) {
    if (typeof current.query === 'string') {
      statement ??= statementName(current.query);
    }
    if (!isDrizzleWrapper(current)) {
      break;
    }
    if (!current.cause || typeof current.cause !== 'object') {
      return `${statement ?? 'a query'} failed`;
    }
    current = current.cause as ErrorLike;
  }
  if (isDrizzleWrapper(current)) {
    return `${statement ?? 'a query'} failed`;
  }
  const message =
    typeof current.message === 'string' && current.message
      ? cap(current.message)
      : typeof current.name === 'string'
        ? current.name
        : 'unknown error';
  const code =
    typeof current.code === 'string' || typeof current.code === 'number'
      ? ` (${current.code})`
      : '';
  return statement
    ? `${statement} failed: ${message}${code}`
    : `${message}${code}`;
}

/** Connection-level codes: the database is away (or restarting), not the query wrong. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08006', // connection_failure
  'EMBEDDED_STORE_EXITED' // the embedded store's thread died (pglite-thread.ts): 503, not a bare 500
]);

const UNAVAILABLE_MESSAGES =
  /Connection terminated|Connection ended|not queryable|timeout exceeded when trying to connect|the database system is (starting up|shutting down)/i;

/**
 * True when the error (or one it wraps) says the database could not be reached or dropped the
 * connection: the API answers 503 for these, and a run's end write is retried.
 */
export function isStoreUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0 && seen.size < 10) {
    const current = queue.shift();
    if (!current || typeof current !== 'object' || seen.has(current)) {
      continue;
    }
    seen.add(current);
    const e = current as ErrorLike;
    if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) {
      return true;
    }
    // Not the message of drizzle's error: it quotes the query and its values.
    if (
      !isDrizzleWrapper(e) &&
      typeof e.message === 'string' &&
      UNAVAILABLE_MESSAGES.test(e.message)
    ) {
      return true;
    }
    queue.push(e.cause);
    if (Array.isArray(e.errors)) {
      queue.push(...e.errors); // AggregateError: every address of the host refused
    }
  }
  return false;
}
