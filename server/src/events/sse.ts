/**
 * One Server-Sent Events stream of a workspace's events. It replays from the store after the client's
 * last id, then on every hub notify (and every heartbeat, a safety net for a notify that came while an
 * older transaction still held events back) reads again after the last id it sent. Reads are serialised,
 * so events go out once each, in id order, with no gaps.
 *
 * Backpressure: the store is read a page at a time, and once the socket refuses more (`write()` returns
 * false) nothing more is written or read until it drains, in the replay and live alike. So a client that
 * does not read holds at most about a page in this process (plus the socket's buffer), however long the
 * history. One that has not drained for `stallMs` is cut off; it resumes by Last-Event-ID.
 */
import type { ServerResponse } from 'node:http';

import type { CellflowEvent, Store } from '../store/store.js';
import type { EventHub } from './hub.js';

export interface EventStreamOptions {
  store: Store;
  hub: EventHub;
  workspaceId: string;
  flowId?: string;
  flowRunId?: string;
  /** The last event id the client has; replay starts after it. */
  afterId: number;
  heartbeatMs: number;
  /** A client that has not drained the socket for this long is disconnected (default 30 s). */
  stallMs?: number;
  /** Called once when the stream ends, whichever side ended it. */
  onClose?: () => void;
}

/** Events read from the store at a time: about the most a stream holds in memory. */
export const EVENT_PAGE_SIZE = 200;

export const DEFAULT_STREAM_STALL_MS = 30_000;

/** The wire form of one event: its id for resuming, its type as the SSE event name, the rest as data. */
export function formatEvent(event: CellflowEvent): string {
  const data = JSON.stringify({
    id: event.id,
    type: event.type,
    flowId: event.flowId,
    flowRunId: event.flowRunId,
    payload: event.payload,
    at: event.at
  });
  // Event types are ours (no newlines); JSON.stringify never emits raw newlines either.
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${data}\n\n`;
}

export class EventStream {
  private lastId: number;
  private reading = false;
  private readAgain = false;
  private closed = false;
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;
  /** Set while the stream waits for the socket to drain: ends that wait (drained, closed or stalled). */
  private wake: (() => void) | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: EventStreamOptions
  ) {
    this.lastId = options.afterId;
    // Subscribe before the first read, so an event committed during the replay still triggers a read.
    this.unsubscribe = options.hub.subscribe(options.workspaceId, () =>
      this.pump()
    );
    this.heartbeat = setInterval(() => {
      // A socket that is backed up has bytes on their way already: no heartbeat piles on.
      if (!this.res.writableNeedDrain) {
        this.write(': heartbeat\n\n');
      }
      this.pump();
    }, options.heartbeatMs);
    res.on('close', () => this.close());
    if (res.destroyed) {
      // The client left while the request was being checked: its 'close' has been and gone.
      this.close();
      return;
    }
    this.write(': stream open\n\n');
    this.pump();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Reads and sends whatever is new; a call during a read makes that read go round once more. */
  pump(): void {
    if (this.closed) {
      return;
    }
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    void this.drain().finally(() => {
      this.reading = false;
    });
  }

  private async drain(): Promise<void> {
    const { store, workspaceId, flowId, flowRunId } = this.options;
    try {
      do {
        this.readAgain = false;
        let page: CellflowEvent[];
        do {
          page = await store.listEvents({
            workspaceId,
            flowId,
            flowRunId,
            afterId: this.lastId,
            limit: EVENT_PAGE_SIZE
          });
          for (const event of page) {
            if (this.closed) {
              return;
            }
            const accepted = this.write(formatEvent(event));
            this.lastId = event.id;
            if (!accepted) {
              await this.drained();
            }
          }
          if (this.closed) {
            return;
          }
        } while (page.length === EVENT_PAGE_SIZE);
      } while (this.readAgain && !this.closed);
    } catch {
      // The store went away (server stopping) or failed: end the stream; the client resumes from its last id.
      this.close();
    }
  }

  /** False when the socket wants to drain before it is given more. */
  private write(text: string): boolean {
    if (this.closed || this.res.writableEnded) {
      return true;
    }
    return this.res.write(text);
  }

  /** Resolves once the socket has drained or the stream closed; a client stalled for stallMs is cut off. */
  private drained(): Promise<void> {
    return new Promise(resolve => {
      const done = () => {
        clearTimeout(stall);
        this.res.off('drain', done);
        this.res.off('close', done);
        this.wake = null;
        resolve();
      };
      const stall = setTimeout(
        () => this.close(),
        this.options.stallMs ?? DEFAULT_STREAM_STALL_MS
      );
      this.wake = done;
      this.res.once('drain', done);
      this.res.once('close', done);
    });
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearInterval(this.heartbeat);
    this.unsubscribe();
    this.wake?.();
    if (this.res.writableNeedDrain) {
      // Its client is not reading: an end() would wait behind the unread bytes forever.
      this.res.destroy();
    } else if (!this.res.writableEnded) {
      this.res.end();
      // The connection too, once the end is out: a client that went quiet must not keep it idle-open.
      this.res.socket?.destroySoon();
    }
    this.options.onClose?.();
  }
}
