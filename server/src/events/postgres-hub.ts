/**
 * The event hub across processes on one PostgreSQL: a notify here is also sent with NOTIFY, and NOTIFYs of
 * other servers and workers reach this process's listeners, so a browser streaming events from server A
 * sees the runs that server B executes. The signal still carries no data: listeners read the events table.
 */
import pg from 'pg';

import { LocalEventHub, type EventHub, type EventListener } from './hub.js';

export const EVENTS_CHANNEL = 'cellflow_events';

export class PostgresEventHub implements EventHub {
  private readonly local = new LocalEventHub();
  /** Tells our own NOTIFYs apart when they come back: they were delivered locally already. */
  private readonly origin = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  private closed = false;

  private constructor(
    private readonly listener: pg.Client,
    private readonly pool: pg.Pool
  ) {}

  static async open(databaseUrl: string): Promise<PostgresEventHub> {
    const listener = new pg.Client({ connectionString: databaseUrl });
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    await listener.connect();
    const hub = new PostgresEventHub(listener, pool);
    listener.on('notification', message => hub.onNotification(message.payload));
    // A lost LISTEN connection only delays live events (clients resume by id): report, don't crash.
    listener.on('error', error =>
      console.warn(`cellflow: event LISTEN connection failed: ${error.message}`)
    );
    await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
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
      .catch(error =>
        console.warn(`cellflow: NOTIFY failed: ${error.message}`)
      );
  }

  subscribe(workspaceId: string, listener: EventListener): () => void {
    return this.local.subscribe(workspaceId, listener);
  }

  listenerCount(workspaceId: string): number {
    return this.local.listenerCount(workspaceId);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.listener.end(), this.pool.end()]);
  }

  private onNotification(payload: string | undefined): void {
    const [origin, workspaceId] = (payload ?? '').split(' ');
    if (origin !== this.origin && workspaceId) {
      this.local.notify(workspaceId);
    }
  }
}
