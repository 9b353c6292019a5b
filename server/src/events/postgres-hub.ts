/**
 * The event hub across processes on one PostgreSQL: a notify here is also sent with NOTIFY, and NOTIFYs of
 * other servers and workers reach this process's listeners, so a browser streaming events from server A
 * sees the runs that server B executes. The signal still carries no data: listeners read the events table.
 *
 * The database may go away (a restart, a network cut): no connection error ends the process. The LISTEN
 * connection is re-established with backoff; once it LISTENs again every local listener is told once,
 * since NOTIFYs sent meanwhile were lost, and each live stream re-reads after the last id it saw.
 */
import pg from 'pg';

import { describeStoreError } from '../store/errors.js';
import { LocalEventHub, type EventHub, type EventListener } from './hub.js';

export const EVENTS_CHANNEL = 'cellflow_events';

/** The connections' application_name, as pg_stat_activity shows them. */
export const EVENTS_APPLICATION_NAME = 'cellflow-events';

export interface PostgresEventHubOptions {
  /** First wait before re-connecting the lost LISTEN connection (default 100 ms); doubled per failure. */
  reconnectMinMs?: number;
  /** Longest wait between tries (default 5 s). */
  reconnectMaxMs?: number;
}

export class PostgresEventHub implements EventHub {
  private readonly local = new LocalEventHub();
  /** Tells our own NOTIFYs apart when they come back: they were delivered locally already. */
  private readonly origin = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  private closed = false;
  /** The client that LISTENs now; null while it is being re-established. */
  private listener: pg.Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private delay: number;
  /** Reports a failing NOTIFY once, not once per notify, until one succeeds again. */
  private notifyFailing = false;

  private constructor(
    private readonly databaseUrl: string,
    private readonly pool: pg.Pool,
    options: PostgresEventHubOptions
  ) {
    this.minDelay = options.reconnectMinMs ?? 100;
    this.maxDelay = Math.max(this.minDelay, options.reconnectMaxMs ?? 5000);
    this.delay = this.minDelay;
  }

  static async open(
    databaseUrl: string,
    options: PostgresEventHubOptions = {}
  ): Promise<PostgresEventHub> {
    const pool = new pg.Pool({
      connectionString: databaseUrl,
      max: 2,
      application_name: EVENTS_APPLICATION_NAME
    });
    // An idle connection dropped by the database (restart, pg_terminate_backend): the pool has removed
    // it already and the next NOTIFY opens another. Without this listener the process would crash.
    pool.on('error', error =>
      console.warn(
        `cellflow: an idle event connection was lost: ${describeStoreError(error)}`
      )
    );
    const hub = new PostgresEventHub(databaseUrl, pool, options);
    try {
      await hub.listen();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return hub;
  }

  notify(workspaceId: string): void {
    this.local.notify(workspaceId);
    if (this.closed) {
      return;
    }
    this.pool
      .query('SELECT pg_notify($1, $2)', [
        EVENTS_CHANNEL,
        `${this.origin} ${workspaceId}`
      ])
      .then(
        () => {
          this.notifyFailing = false;
        },
        error => {
          if (!this.notifyFailing && !this.closed) {
            console.warn(
              `cellflow: NOTIFY failed (other servers see this event late): ${describeStoreError(error)}`
            );
          }
          this.notifyFailing = true;
        }
      );
  }

  subscribe(workspaceId: string, listener: EventListener): () => void {
    return this.local.subscribe(workspaceId, listener);
  }

  listenerCount(workspaceId: string): number {
    return this.local.listenerCount(workspaceId);
  }

  /** True while the LISTEN connection is up (false during an outage). */
  get listening(): boolean {
    return this.listener !== null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    const listener = this.listener;
    this.listener = null;
    await Promise.allSettled([listener?.end(), this.pool.end()]);
  }

  /** Connects a new client and LISTENs on it; it becomes `this.listener` only once it does. */
  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: EVENTS_APPLICATION_NAME
    });
    client.on('notification', message => this.onNotification(message.payload));
    // Before connect(): an error after it (or while LISTEN runs) must find a listener.
    client.on('error', error => this.lost(client, error));
    client.on('end', () => this.lost(client, null));
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
  }

  /** The LISTEN connection failed or ended: report once, re-establish it. */
  private lost(client: pg.Client, error: Error | null): void {
    if (client !== this.listener) {
      return; // a client that never LISTENed (its failure is the reconnect's), or one already replaced
    }
    this.listener = null;
    client.end().catch(() => undefined);
    if (this.closed) {
      return;
    }
    console.warn(
      `cellflow: event LISTEN connection lost${error ? ` (${describeStoreError(error)})` : ''}: ` +
        'reconnecting; live events from other servers wait until then'
    );
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) {
      return;
    }
    // Jittered, so the servers of one database do not all reconnect at the same instant.
    const wait = Math.round(this.delay * (0.75 + Math.random() * 0.5));
    this.delay = Math.min(this.delay * 2, this.maxDelay);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.reconnect();
    }, wait);
    this.reconnectTimer.unref();
  }

  private async reconnect(): Promise<void> {
    try {
      await this.listen();
    } catch {
      // Still away: tried again later, longer apart (the loss was reported already).
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      return;
    }
    this.delay = this.minDelay;
    console.warn('cellflow: event LISTEN connection re-established');
    // NOTIFYs sent while we were away are lost: every live stream re-reads once.
    this.local.notifyAll();
  }

  private onNotification(payload: string | undefined): void {
    const [origin, workspaceId] = (payload ?? '').split(' ');
    if (origin !== this.origin && workspaceId) {
      this.local.notify(workspaceId);
    }
  }
}
