/**
 * The one Server-Sent Events parser of Cellflow's clients: the lab's event stream (event-stream.ts)
 * and the CLI's (server/src/cli/client.ts) both read `GET /api/events` with fetch (EventSource cannot
 * send headers, and the key or the lab's auth goes in one) and feed the text here as it comes.
 *
 * The text/event-stream format: `field: value` lines ending in \n, \r\n or \r; an event ends at a
 * blank line; `data` lines join with newlines; comments (`:`) are keep-alives; an event without an
 * `id` keeps the last one seen, which is where a reconnect resumes (`Last-Event-ID`).
 */

/** One event as received; `data` is parsed JSON, or the text when it is not JSON. */
export interface IStreamEvent {
  id: string | undefined;
  type: string;
  data: unknown;
}

export class SseParser {
  private buffer = '';
  private id: string | undefined;
  private dispatchedId: string | undefined;
  private type = '';
  private data: string[] = [];

  /**
   * The id of the last whole event (null before any): resume after it on reconnecting. An id whose
   * event was cut off before its blank line does not count, so that event is asked for again.
   */
  get lastEventId(): string | null {
    return this.dispatchedId ?? null;
  }

  /** Feeds a chunk of the stream's text; returns the events it completed, in order. */
  push(text: string): IStreamEvent[] {
    this.buffer += text;
    const events: IStreamEvent[] = [];
    let newline: number;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline);
      const width =
        this.buffer[newline] === '\r' && this.buffer[newline + 1] === '\n'
          ? 2
          : 1;
      // A lone '\r' at the very end may be the first half of '\r\n': wait for more.
      if (
        width === 1 &&
        this.buffer[newline] === '\r' &&
        newline + 1 === this.buffer.length
      ) {
        break;
      }
      this.buffer = this.buffer.slice(newline + width);
      const event = this.line(line);
      if (event) {
        events.push(event);
      }
    }
    return events;
  }

  private line(line: string): IStreamEvent | null {
    if (line === '') {
      this.dispatchedId = this.id;
      if (this.data.length === 0) {
        this.type = '';
        return null;
      }
      const raw = this.data.join('\n');
      this.data = [];
      let data: unknown = raw;
      try {
        data = JSON.parse(raw);
      } catch {
        // Keep it as text: a server may send plain data for some types.
      }
      const event = { id: this.id, type: this.type || 'message', data };
      this.type = '';
      return event;
    }
    if (line.startsWith(':')) {
      return null;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'data') {
      this.data.push(value);
    } else if (field === 'event') {
      this.type = value;
    } else if (field === 'id' && !value.includes('\0')) {
      this.id = value;
    }
    return null;
  }
}
