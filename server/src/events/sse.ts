/**
 * One Server-Sent Events stream of a workspace's events. It replays from the store after the client's
 * last id, then follows live: from its workspace's shared feed (one store read per workspace for all its
 * streams, see workspace-feed.ts) when the server gives it one, else by reading the store again on every
 * hub notify and heartbeat. Reads are serialised, so events go out once each, in the store's order
 * (listEvents), with no gaps.
 *
 * Backpressure: the store is read a page at a time, and once the socket refuses more (`write()` returns
 * false) nothing more is written or read until it drains, in the replay and live alike. So a client that
 * does not read holds at most about a page in this process (plus the socket's buffer), however long the
 * history. One that has not drained for `stallMs` is cut off; it resumes by Last-Event-ID.
 */
import type { ServerResponse } from 'node:http';

import type { CellflowEvent, Store } from '../store/store.js';
import type { EventHub } from './hub.js';
import {
  formatEvent,
  type FeedEvent,
  type FeedReader,
  type WorkspaceFeed,
  type WorkspaceFeeds
} from './workspace-feed.js';

export { formatEvent };

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
  /** The workspaces' shared feeds: once caught up, the stream follows its feed instead of the store. */
  feeds?: WorkspaceFeeds;
}

/** Events read from the store at a time: about the most a stream holds in memory. */
export const EVENT_PAGE_SIZE = 200;

export const DEFAULT_STREAM_STALL_MS = 30_000;

export class EventStream implements FeedReader {
  private lastId: number;
  /** Following a feed: it, the position in it, and the ids of the join's own read it must not resend. */
  private live: {
    feed: WorkspaceFeed;
    position: number;
    skip: Set<number>;
  } | null = null;
  private joining = false;
  private sending = false;
  private sendAgain = false;
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
    // Subscribe before the first read, so an event committed during the replay still triggers a read
    // (a stream following a feed ignores these: the feed reads for it).
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
    if (this.closed || this.live || this.joining) {
      return;
    }
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    void this.drain();
  }

  /**
   * Reads this stream's events after the last id sent, a page at a time, handing each to `take` (which
   * may wait, for the socket), until a page is not full or the stream closed.
   */
  private async readPages(
    take: (event: CellflowEvent) => Promise<void> | void
  ): Promise<void> {
    const { store, workspaceId, flowId, flowRunId } = this.options;
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
        const waiting = take(event);
        if (waiting) {
          await waiting;
        }
      }
    } while (page.length === EVENT_PAGE_SIZE && !this.closed);
  }

  private async drain(): Promise<void> {
    try {
      do {
        this.readAgain = false;
        await this.readPages(event => {
          const accepted = this.write(formatEvent(event));
          this.lastId = event.id;
          return accepted ? undefined : this.drained();
        });
      } while (this.readAgain && !this.closed);
    } catch {
      // The store went away (server stopping) or failed: end the stream; the client resumes from its last id.
      this.reading = false;
      this.close();
      return;
    }
    // In the same tick as the loop's last check: a pump() after it starts a new read.
    this.reading = false;
    if (this.options.feeds && !this.closed) {
      this.joining = true;
      void this.join(this.options.feeds);
    }
  }

  /**
   * Caught up with the store: join the workspace's feed. Between two of the feed's reads, one more
   * read after the last id sent (written without waiting for the socket: it is what came since the
   * previous page, a few events) brings the stream to at least where the feed is.
   */
  private async join(feeds: WorkspaceFeeds): Promise<void> {
    const feed = feeds.of(this.options.workspaceId);
    try {
      const joined = await feed.join(this, async () => {
        const ids: number[] = [];
        await this.readPages(event => {
          this.write(formatEvent(event));
          this.lastId = event.id;
          ids.push(event.id);
        });
        return ids;
      });
      this.joining = false;
      if (this.closed) {
        feed.leave(this);
        return;
      }
      this.live = { feed, ...joined };
      this.onEvents();
    } catch {
      this.joining = false;
      this.close();
    }
  }

  /** The feed has new events: send those of this stream's flow or run, waiting for the socket. */
  onEvents(): void {
    if (this.sending) {
      this.sendAgain = true;
      return;
    }
    this.sending = true;
    void this.send();
  }

  private async send(): Promise<void> {
    try {
      await this.sendAll();
    } finally {
      // In the same tick as the loop's last check: an onEvents after it starts a new send.
      this.sending = false;
    }
  }

  private async sendAll(): Promise<void> {
    do {
      this.sendAgain = false;
      const live = this.live;
      if (!live || this.closed) {
        return;
      }
      const events = live.feed.from(live.position);
      if (events === null) {
        // Fallen behind what the feed keeps (a slow reader): replay from the store, then join again.
        live.feed.leave(this);
        this.live = null;
        this.pump();
        return;
      }
      for (const event of events) {
        live.position++;
        if (live.skip.delete(event.id) || !this.wants(event)) {
          continue;
        }
        const accepted = this.write(event.text);
        this.lastId = event.id;
        if (!accepted) {
          await this.drained();
        }
        if (this.closed) {
          return;
        }
      }
    } while (this.sendAgain);
  }

  private wants(event: FeedEvent): boolean {
    const { flowId, flowRunId } = this.options;
    return (
      (flowId === undefined || event.flowId === flowId) &&
      (flowRunId === undefined || event.flowRunId === flowRunId)
    );
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
    this.live?.feed.leave(this);
    this.live = null;
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
