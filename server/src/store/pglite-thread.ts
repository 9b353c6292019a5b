/**
 * The embedded store off the event loop (project issue 16): PGlite runs in a worker thread
 * (pglite-worker.ts) and this object stands in for it on the server's thread. It offers the part of
 * PGlite's interface that drizzle's pglite driver and the migrator use (`query`, `transaction` with
 * `query` and `exec`, `close`), forwarding each call as a message, so everything above it is unchanged.
 *
 * Callers must not overlap a transaction with other calls (PGlite is one connection); pglite.ts's mutex
 * sees to that, as it does in-thread. If the thread dies, every waiting and later call fails with
 * EmbeddedStoreExitedError instead of waiting forever.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import type { QueryOptions, Results } from '@electric-sql/pglite';

import {
  fromWire,
  type Hello,
  type Reply,
  type Request
} from './pglite-wire.js';

/** The store's thread is gone (crashed, out of memory, or ended): nothing more can be read or written. */
export class EmbeddedStoreExitedError extends Error {
  readonly code = 'EMBEDDED_STORE_EXITED';
  constructor(reason: string) {
    super(
      `the embedded store's thread stopped (${reason}): restart the server`
    );
    this.name = 'EmbeddedStoreExitedError';
  }
}

export interface PgliteTx {
  query<T>(
    sql: string,
    params?: unknown[],
    options?: QueryOptions
  ): Promise<Results<T>>;
  exec(sql: string): Promise<Results[]>;
}

type Pending = { resolve(value: unknown): void; reject(error: Error): void };

/**
 * The compiled worker script. From the compiled server it sits beside this module; under the test
 * runner this module is TypeScript source, and the test setup has compiled the server to lib/ first.
 */
export function pgliteWorkerUrl(): URL {
  const beside = new URL('./pglite-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(beside))) {
    return beside;
  }
  return new URL(
    '../../lib/server/src/store/pglite-worker.js',
    import.meta.url
  );
}

export class PgliteThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | null = null;

  /**
   * Starts the thread and waits for the store to open in `dataDir`; in memory when undefined, then
   * from `template` (a store template's file, store-template.ts) when given, else by initdb.
   */
  static start(dataDir?: string, template?: string): Promise<PgliteThread> {
    return PgliteThread.attach(
      new Worker(pgliteWorkerUrl(), { workerData: { dataDir, template } })
    );
  }

  /** Takes over `worker`, a pglite-worker.js just started, once its store is open (tests end it to act a crash). */
  static async attach(worker: Worker): Promise<PgliteThread> {
    const thread = new PgliteThread(worker);
    await thread.ready;
    return thread;
  }

  private readonly ready: Promise<void>;

  private constructor(private readonly worker: Worker) {
    this.ready = new Promise<void>((resolve, reject) => {
      worker.once('message', (hello: Hello) => {
        if (hello.ready) {
          worker.on('message', (reply: Reply) => this.settle(reply));
          this.idle();
          resolve();
        } else {
          reject(fromWire(hello.error));
        }
      });
      // An uncaught error in the thread comes first, then the exit: keep the error as the reason.
      worker.on('error', error => {
        this.failure ??= new EmbeddedStoreExitedError(error.message);
      });
      worker.on('exit', code => {
        this.failure ??= new EmbeddedStoreExitedError(`exit code ${code}`);
        for (const waiting of this.pending.values()) {
          waiting.reject(this.failure);
        }
        this.pending.clear();
        reject(this.failure);
      });
    });
  }

  async query<T>(
    sql: string,
    params?: unknown[],
    options?: QueryOptions
  ): Promise<Results<T>> {
    return this.queryIn(undefined, sql, params, options);
  }

  /** Runs `fn` in one transaction in the store's thread: commit if it resolves, roll back if it throws. */
  async transaction<T>(fn: (tx: PgliteTx) => Promise<T>): Promise<T> {
    const id = this.nextId++;
    await this.call({ id, op: 'begin' });
    const tx: PgliteTx = {
      query: (sql, params, options) => this.queryIn(id, sql, params, options),
      exec: sql =>
        this.call({ id: this.nextId++, op: 'exec', sql, tx: id }) as Promise<
          Results[]
        >
    };
    let result: T;
    try {
      result = await fn(tx);
    } catch (error) {
      // As PGlite: a failing ROLLBACK is what the caller sees, else the callback's own error.
      await this.call({ id: this.nextId++, op: 'rollback', tx: id });
      throw error;
    }
    await this.call({ id: this.nextId++, op: 'commit', tx: id });
    return result;
  }

  /** Closes the store, then ends the thread. */
  async close(): Promise<void> {
    try {
      if (!this.failure) {
        await this.call({ id: this.nextId++, op: 'close' });
      }
    } finally {
      this.failure ??= new Error('the embedded store is closed');
      await this.worker.terminate();
    }
  }

  private async queryIn<T>(
    tx: number | undefined,
    sql: string,
    params: unknown[] | undefined,
    options: QueryOptions | undefined
  ): Promise<Results<T>> {
    if (options?.serializers || options?.blob || options?.onNotice) {
      // Functions and files cannot cross to the thread; no caller of the store uses them.
      throw new TypeError(
        'the embedded store thread takes no serializers, blob or onNotice'
      );
    }
    const parsers = options?.parsers ?? {};
    try {
      const raw = (await this.call({
        id: this.nextId++,
        op: 'query',
        sql,
        params,
        tx,
        rawTypes: Object.keys(parsers).map(Number),
        paramTypes: options?.paramTypes
      })) as Results<unknown[]>;
      return shape<T>(raw, parsers, options?.rowMode === 'array');
    } catch (error) {
      // PGlite's errors carry the options of the query that failed; the thread could not send functions.
      if (error instanceof Error && 'query' in error) {
        Object.assign(error, { queryOptions: options });
      }
      throw error;
    }
  }

  private call(request: Request): Promise<unknown> {
    if (this.failure) {
      return Promise.reject(this.failure);
    }
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) {
        this.worker.ref(); // a call in flight keeps the process alive, as PGlite's own work would
      }
      this.pending.set(request.id, { resolve, reject });
      this.worker.postMessage(request);
    });
  }

  private settle(reply: Reply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) {
      return;
    }
    this.pending.delete(reply.id);
    this.idle();
    if (reply.ok) {
      waiting.resolve(reply.value);
    } else {
      waiting.reject(fromWire(reply.error));
    }
  }

  /** An idle thread does not keep the process alive (an in-thread PGlite holds nothing either). */
  private idle(): void {
    if (this.pending.size === 0) {
      this.worker.unref();
    }
  }
}

/** The rows as PGlite would have returned them: the caller's parsers applied, objects unless arrays were asked for. */
function shape<T>(
  raw: Results<unknown[]>,
  parsers: NonNullable<QueryOptions['parsers']>,
  asArrays: boolean
): Results<T> {
  const fields = raw.fields;
  const rows = raw.rows.map(row => {
    const values = row.map((value, i) => {
      const type = fields[i].dataTypeID;
      // PGlite calls a parser with the type too, though its declared type shows only the text.
      const parse = parsers[type] as
        ((text: string, type: number) => unknown) | undefined;
      return parse && value !== null ? parse(value as string, type) : value;
    });
    return asArrays
      ? values
      : Object.fromEntries(fields.map((field, i) => [field.name, values[i]]));
  });
  return { ...raw, rows: rows as T[] };
}
