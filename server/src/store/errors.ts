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
