/**
 * A Server-Sent Events parser for streams read with fetch (EventSource cannot send headers, and the
 * lab's requests carry its own auth): feed it text chunks, it calls back with whole events.
 */
export interface IServerEvent {
  id: string | null;
  event: string;
  data: string;
}

export class SseParser {
  constructor(private readonly onEvent: (event: IServerEvent) => void) {}

  /** The id of the last event seen: resume from here after a reconnect. */
  lastEventId: string | null = null;

  push(chunk: string): void {
    this._buffer += chunk;
    // Events end with a blank line; lines end with \n, \r\n or \r.
    for (;;) {
      const match = /\r\n\r\n|\n\n|\r\r/.exec(this._buffer);
      if (!match) {
        return;
      }
      const block = this._buffer.slice(0, match.index);
      this._buffer = this._buffer.slice(match.index + match[0].length);
      this.dispatch(block);
    }
  }

  private dispatch(block: string): void {
    let event = 'message';
    let id: string | null = null;
    const data: string[] = [];
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line === '' || line.startsWith(':')) {
        continue; // comments are heartbeats
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) {
        value = value.slice(1);
      }
      if (field === 'event') {
        event = value;
      } else if (field === 'data') {
        data.push(value);
      } else if (field === 'id') {
        id = value;
      }
    }
    if (id !== null) {
      this.lastEventId = id;
    }
    if (data.length) {
      this.onEvent({ id, event, data: data.join('\n') });
    }
  }

  private _buffer = '';
}
