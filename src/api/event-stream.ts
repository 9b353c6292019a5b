import { CellflowClient, CellflowError } from './client.js';
import { IStreamEvent, SseParser } from './sse.js';
import type { ICellflowEvent } from './types.js';

export type { ICellflowEvent };

export interface IEventStreamOptions {
  /** `flowId=...` or `runId=...`. */
  query: string;
  onEvent: (event: ICellflowEvent) => void;
  /** Connection state changes: true once streaming, false while reconnecting (with the reason). */
  onConnection?: (connected: boolean, reason?: string) => void;
  /** 401 mid-session: the stream stops; log in again to resume. */
  onUnauthorized?: (message: string) => void;
  /** Reconnect delays grow from `minDelayMs` to `maxDelayMs` (doubling), reset on success. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * The live event stream, read with fetch through the lab (no polling): reconnects with backoff after a
 * lost connection and resumes after the last event id, so nothing is missed or seen twice.
 */
export class EventStream {
  constructor(
    private readonly client: CellflowClient,
    private readonly options: IEventStreamOptions
  ) {
    void this.loop();
  }

  get isDisposed(): boolean {
    return this._abort.signal.aborted;
  }

  dispose(): void {
    this._abort.abort();
  }

  private async loop(): Promise<void> {
    const min = this.options.minDelayMs ?? 500;
    const max = this.options.maxDelayMs ?? 15000;
    let delay = min;
    const parser = new SseParser();
    while (!this._abort.signal.aborted) {
      try {
        const response = await this.client.openEvents(
          this.options.query,
          parser.lastEventId,
          this._abort.signal
        );
        this.options.onConnection?.(true);
        delay = min;
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            break;
          }
          for (const event of parser.push(
            decoder.decode(value, { stream: true })
          )) {
            this.dispatch(event);
          }
        }
        if (!this._abort.signal.aborted) {
          this.options.onConnection?.(false, 'the event stream ended');
        }
      } catch (error) {
        if (this._abort.signal.aborted) {
          return;
        }
        if (error instanceof CellflowError && error.isUnauthorized) {
          this.options.onUnauthorized?.(error.message);
          return;
        }
        this.options.onConnection?.(
          false,
          error instanceof Error ? error.message : String(error)
        );
      }
      await sleep(delay, this._abort.signal);
      delay = Math.min(max, delay * 2);
    }
  }

  private dispatch(event: IStreamEvent): void {
    if (typeof event.data !== 'object' || event.data === null) {
      console.warn('Cellflow: unreadable event', event);
      return;
    }
    try {
      this.options.onEvent(event.data as ICellflowEvent);
    } catch (error) {
      console.warn('Cellflow: an event handler failed', event, error);
    }
  }

  private _abort = new AbortController();
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true }
    );
  });
}
