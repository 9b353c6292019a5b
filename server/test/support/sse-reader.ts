/** A test's reader of a Server-Sent Events body (a fetch Response's), message by message. */

export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** Parses a fetch body as SSE and hands out messages in order, waiting for the next when none is buffered. */
export class SseReader {
  private buffer = '';
  private readonly queue: SseMessage[] = [];
  private readonly decoder = new TextDecoder();
  private done = false;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>
  ) {}

  /** The next message, or null when the stream ended. */
  async next(): Promise<SseMessage | null> {
    while (this.queue.length === 0) {
      if (this.done) {
        return null;
      }
      const { value, done } = await this.reader.read();
      if (done) {
        this.done = true;
        continue;
      }
      this.buffer += this.decoder.decode(value, { stream: true });
      let end: number;
      while ((end = this.buffer.indexOf('\n\n')) >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const message: SseMessage = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) {
            message.comment = line.slice(1).trim();
          }
          const field = /^(id|event|data): (.*)$/.exec(line);
          if (field) {
            message[field[1] as 'id' | 'event' | 'data'] = field[2];
          }
        }
        this.queue.push(message);
      }
    }
    return this.queue.shift()!;
  }

  /** The next message that is an event (comments such as heartbeats skipped). */
  async nextEvent(): Promise<SseMessage | null> {
    for (;;) {
      const message = await this.next();
      if (!message || message.id !== undefined) {
        return message;
      }
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel();
  }
}
