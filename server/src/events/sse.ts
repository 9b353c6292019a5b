/**
 * One Server-Sent Events stream of a workspace's events. It replays from the store after the client's
 * last id, then on every hub notify (and every heartbeat, a safety net for a notify that came while an
 * older transaction still held events back) reads again after the last id it sent. Reads are serialised,
 * so events go out once each, in id order, with no gaps.
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
  /** Called once when the stream ends, whichever side ended it. */
  onClose?: () => void;
}

const PAGE = 500;

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
      this.write(': heartbeat\n\n');
      this.pump();
    }, options.heartbeatMs);
    res.on('close', () => this.close());
    this.write(': stream open\n\n');
    this.pump();
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
            limit: PAGE
          });
          if (this.closed) {
            return;
          }
          for (const event of page) {
            this.write(formatEvent(event));
            this.lastId = event.id;
          }
        } while (page.length === PAGE);
      } while (this.readAgain && !this.closed);
    } catch {
      // The store went away (server stopping) or failed: end the stream; the client resumes from its last id.
      this.close();
    }
  }

  private write(text: string): void {
    if (!this.closed && !this.res.writableEnded) {
      this.res.write(text);
    }
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearInterval(this.heartbeat);
    this.unsubscribe();
    if (!this.res.writableEnded) {
      this.res.end();
    }
    this.options.onClose?.();
  }
}
