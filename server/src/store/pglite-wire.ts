/**
 * The messages between the server's thread and the thread that owns the embedded store (pglite-worker.ts),
 * and how a database error crosses between them intact. Only structured-clone data crosses: no functions,
 * so a caller's result parsers stay on the caller's side (pglite-thread.ts applies them).
 */
import { messages, TransactionAbortedError } from '@electric-sql/pglite';

/** What the server's thread asks; `tx` names an open transaction (the id of its `begin`). */
export type Request =
  | {
      id: number;
      op: 'query';
      sql: string;
      params?: unknown[];
      tx?: number;
      /** Types returned as PostgreSQL's text, because the caller brings its own parser for them. */
      rawTypes: number[];
      paramTypes?: number[];
    }
  | { id: number; op: 'exec'; sql: string; tx: number }
  | { id: number; op: 'begin' }
  | { id: number; op: 'commit' | 'rollback'; tx: number }
  | { id: number; op: 'close' };

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };

/** Sent once, when the store is open (or could not be opened). */
export type Hello = { ready: true } | { ready: false; error: WireError };

/** An error as data: which class it was, its message and stack, and every field it carried (code, detail, ...). */
export interface WireError {
  kind: 'DatabaseError' | 'TransactionAbortedError' | 'Error';
  name: string;
  message: string;
  stack?: string;
  fields: Record<string, unknown>;
}

export function toWire(error: unknown): WireError {
  if (!(error instanceof Error)) {
    return { kind: 'Error', name: 'Error', message: String(error), fields: {} };
  }
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    // queryOptions holds the parser functions: the caller has its own and puts them back.
    if (
      key !== 'queryOptions' &&
      key !== 'name' &&
      typeof value !== 'function'
    ) {
      fields[key] = value;
    }
  }
  return {
    kind:
      error instanceof TransactionAbortedError
        ? 'TransactionAbortedError'
        : error instanceof messages.DatabaseError
          ? 'DatabaseError'
          : 'Error',
    name: error.name,
    message: error.message,
    stack: error.stack,
    fields
  };
}

/** The error again, of the same class as PGlite threw, so code that checks it cannot tell the difference. */
export function fromWire(wire: WireError): Error {
  const error =
    wire.kind === 'TransactionAbortedError'
      ? new TransactionAbortedError()
      : wire.kind === 'DatabaseError'
        ? new messages.DatabaseError(
            wire.message,
            Number(wire.fields.length ?? 0),
            wire.name as messages.DatabaseError['name']
          )
        : Object.assign(new Error(wire.message), { name: wire.name });
  Object.assign(error, wire.fields);
  if (wire.stack) {
    error.stack = wire.stack;
  }
  return error;
}
