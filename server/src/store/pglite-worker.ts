/**
 * The thread that owns the embedded store: PGlite runs its queries (PostgreSQL in WebAssembly, CPU-bound)
 * here, so they never hold up the server's event loop. It answers the requests of pglite-thread.ts in
 * order. A transaction is PGlite's own `transaction()`, held open until the caller commits or rolls back,
 * so COMMIT and ROLLBACK behave exactly as they do in-thread.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { PGlite, type Transaction } from '@electric-sql/pglite';

import { pgliteOptions } from './pglite-settings.js';
import { toWire, type Hello, type Reply, type Request } from './pglite-wire.js';

interface OpenTx {
  tx: Transaction;
  /** Ends PGlite's transaction callback: resolve commits, reject rolls back. */
  end(commit: boolean): void;
  /** The commit or rollback request waiting for the transaction to end. */
  endId?: number;
}

/** Thrown into PGlite's transaction callback to make it roll back; never reaches the caller. */
const ROLLBACK = Symbol('rollback');

const port = parentPort!;
const { dataDir, template } = workerData as {
  dataDir?: string;
  /** In memory only: the store template to start from instead of initdb (store-template.ts). */
  template?: string;
};
const open = new Map<number, OpenTx>();

function reply(id: number, run: () => Promise<unknown>): void {
  run().then(
    value => port.postMessage({ id, ok: true, value } satisfies Reply),
    (error: unknown) =>
      port.postMessage({ id, ok: false, error: toWire(error) } satisfies Reply)
  );
}

function txOf(id: number): OpenTx {
  const tx = open.get(id);
  if (!tx) {
    throw new Error(`no open transaction ${id} in the store's thread`);
  }
  return tx;
}

function begin(db: PGlite, id: number): void {
  let started = false;
  db.transaction(
    tx =>
      new Promise<void>((resolve, reject) => {
        started = true;
        open.set(id, {
          tx,
          end: commit => (commit ? resolve() : reject(ROLLBACK))
        });
        port.postMessage({ id, ok: true, value: null } satisfies Reply);
      })
  ).then(
    () => finish(id, null),
    (error: unknown) => {
      if (!started) {
        // BEGIN itself failed: the caller is still waiting on its begin request.
        port.postMessage({
          id,
          ok: false,
          error: toWire(error)
        } satisfies Reply);
      } else {
        finish(id, error === ROLLBACK ? null : error);
      }
    }
  );
}

/** Answers the commit or rollback request once PGlite's transaction has ended. */
function finish(id: number, error: unknown): void {
  const endId = open.get(id)?.endId;
  open.delete(id);
  if (endId !== undefined) {
    port.postMessage(
      error === null
        ? ({ id: endId, ok: true, value: null } satisfies Reply)
        : ({ id: endId, ok: false, error: toWire(error) } satisfies Reply)
    );
  }
}

function serve(db: PGlite, request: Request): void {
  switch (request.op) {
    case 'query':
      return reply(request.id, () => {
        const target = request.tx === undefined ? db : txOf(request.tx).tx;
        // Identity parsers: those values go back as PostgreSQL's text and the caller's parsers read them.
        const parsers = Object.fromEntries(
          request.rawTypes.map(type => [type, (value: string) => value])
        );
        return target.query(request.sql, request.params, {
          rowMode: 'array',
          parsers,
          paramTypes: request.paramTypes
        });
      });
    case 'exec':
      return reply(request.id, () => txOf(request.tx).tx.exec(request.sql));
    case 'begin':
      return begin(db, request.id);
    case 'commit':
    case 'rollback': {
      const tx = open.get(request.tx);
      if (!tx) {
        return reply(request.id, async () => txOf(request.tx));
      }
      tx.endId = request.id;
      return tx.end(request.op === 'commit');
    }
    case 'close':
      return reply(request.id, () => db.close());
  }
}

PGlite.create(pgliteOptions(dataDir, template)).then(
  db => {
    port.on('message', (request: Request) => serve(db, request));
    port.postMessage({ ready: true } satisfies Hello);
  },
  (error: unknown) =>
    port.postMessage({ ready: false, error: toWire(error) } satisfies Hello)
);
