/**
 * One store read per workspace for all of its live event streams. Without it every stream read the store
 * on every notify: 200 subscribers of a busy workspace made 200 queries per event, which is what slowed
 * the whole API under load (bench/README.md). A feed reads the new events once, keeps the latest ones
 * formatted for the wire, and each stream that has caught up takes them from there, filtered by its own
 * flow or run.
 *
 * A stream replays from the store by itself first (a client resuming from far back), then joins. The
 * join runs between two reads of the feed: the stream reads once more after its own last event, which
 * brings it to at least where the feed is, and starts at the feed's end; events of that last read the
 * feed has yet to read are skipped when they arrive. A stream that falls behind the feed's memory (its
 * client reads too slowly) leaves and replays from the store again, with backpressure.
 */
import type { CellflowEvent, Store } from '../store/store.js';
import type { EventHub } from './hub.js';

/** An event as the feed keeps it: what a stream filters on, and its wire form, made once. */
export interface FeedEvent {
  id: number;
  flowId: string | null;
  flowRunId: string | null;
  text: string;
}

/** The most a feed keeps, in events and in bytes of wire text. */
export const FEED_MAX_EVENTS = 2000;
export const FEED_MAX_BYTES = 8 * 1024 * 1024;
const FEED_PAGE_SIZE = 500;

/** A stream in the feed: told when new events are there; it reads them with `read()`. */
export interface FeedReader {
  onEvents(): void;
}

export class WorkspaceFeed {
  /** The id of the last event read (listEvents' order); null until the first join. */
  private cursor: number | null = null;
  private events: FeedEvent[] = [];
  /** Absolute position of events[0] (positions only grow, events are dropped from the front). */
  private base = 0;
  private bytes = 0;
  private readonly readers = new Set<FeedReader>();
  /** Reads and joins, one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  private pending = false;
  private joining = 0;
  private closed = false;
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    hub: EventHub,
    readonly workspaceId: string,
    heartbeatMs: number,
    private readonly onIdle: () => void
  ) {
    this.unsubscribe = hub.subscribe(workspaceId, () => this.read());
    // A safety net, as each stream had: events held back while an older transaction was open become
    // visible without a notify of their own.
    this.heartbeat = setInterval(() => this.read(), heartbeatMs);
  }

  /** The position after the newest event kept. */
  get end(): number {
    return this.base + this.events.length;
  }

  /** Events from an absolute position; null when that position has been dropped already. */
  from(position: number): FeedEvent[] | null {
    if (position < this.base) {
      return null;
    }
    return this.events.slice(position - this.base);
  }

  /**
   * Join a stream: `catchUp` reads the store after the stream's last event and sends what it finds,
   * returning those ids; it runs between two reads of the feed. Resolves to the position the stream
   * starts from and the ids it must skip (read by itself, not yet by the feed).
   */
  join(
    reader: FeedReader,
    catchUp: () => Promise<number[]>
  ): Promise<{ position: number; skip: Set<number> }> {
    // Counted at once: the feed must not close between this call and the reader's arrival.
    this.joining++;
    const joined = this.serially(async () => {
      if (this.cursor === null) {
        this.cursor = await this.store.latestEventId(this.workspaceId);
      }
      await this.readNow();
      const ids = await catchUp();
      const kept = new Set(this.events.map(e => e.id));
      this.readers.add(reader);
      return {
        position: this.end,
        skip: new Set(ids.filter(id => !kept.has(id)))
      };
    });
    return joined.finally(() => {
      this.joining--;
      this.closeIfIdle();
    });
  }

  leave(reader: FeedReader): void {
    this.readers.delete(reader);
    this.closeIfIdle();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Read what is new (once for any number of notifies that came while a read was queued). */
  read(): void {
    if (this.pending || this.cursor === null || this.closed) {
      return;
    }
    this.pending = true;
    void this.serially(async () => {
      this.pending = false;
      await this.readNow();
    }).catch(() => {
      // The store failed (or is closing): the next notify or heartbeat reads again.
    });
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearInterval(this.heartbeat);
    this.unsubscribe();
  }

  /** No stream left and none joining: stop reading, and let a later stream make a new feed. */
  private closeIfIdle(): void {
    if (this.readers.size === 0 && this.joining === 0 && !this.closed) {
      this.close();
      this.onIdle();
    }
  }

  private async readNow(): Promise<void> {
    let page: CellflowEvent[];
    let added = false;
    do {
      page = await this.store.listEvents({
        workspaceId: this.workspaceId,
        afterId: this.cursor ?? 0,
        limit: FEED_PAGE_SIZE
      });
      for (const event of page) {
        const kept: FeedEvent = {
          id: event.id,
          flowId: event.flowId,
          flowRunId: event.flowRunId,
          text: formatEvent(event)
        };
        this.events.push(kept);
        this.bytes += kept.text.length;
        this.cursor = event.id;
        added = true;
      }
      this.trim();
    } while (page.length === FEED_PAGE_SIZE);
    if (added) {
      for (const reader of [...this.readers]) {
        reader.onEvents();
      }
    }
  }

  private trim(): void {
    while (
      this.events.length > FEED_MAX_EVENTS ||
      (this.bytes > FEED_MAX_BYTES && this.events.length > 1)
    ) {
      const dropped = this.events.shift()!;
      this.bytes -= dropped.text.length;
      this.base++;
    }
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.then(
      () => undefined,
      () => undefined
    );
    return result;
  }
}

/** The feeds of the workspaces that have live streams in this process. */
export class WorkspaceFeeds {
  private readonly feeds = new Map<string, WorkspaceFeed>();

  constructor(
    private readonly store: Store,
    private readonly hub: EventHub,
    private readonly heartbeatMs: number
  ) {}

  of(workspaceId: string): WorkspaceFeed {
    let feed = this.feeds.get(workspaceId);
    if (!feed) {
      const made: WorkspaceFeed = new WorkspaceFeed(
        this.store,
        this.hub,
        workspaceId,
        this.heartbeatMs,
        () => {
          if (this.feeds.get(workspaceId) === made) {
            this.feeds.delete(workspaceId);
          }
        }
      );
      feed = made;
      this.feeds.set(workspaceId, feed);
    }
    return feed;
  }

  /** How many feeds are open (tests check that they close with their last stream). */
  get size(): number {
    return this.feeds.size;
  }

  close(): void {
    for (const feed of this.feeds.values()) {
      feed.close();
    }
    this.feeds.clear();
  }
}

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
