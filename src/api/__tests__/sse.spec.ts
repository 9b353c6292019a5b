/**
 * The Server-Sent Events parser of the lab and the CLI (src/api/sse.ts): the wire format as servers and
 * proxies actually chunk it, and the lab's event stream resuming after the last event on reconnect.
 */
import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it } from 'vitest';

import { CellflowClient } from '../client.js';
import { EventStream, type ICellflowEvent } from '../event-stream.js';
import { SseParser } from '../sse.js';

describe('SseParser', () => {
  it('parses id, event and JSON data, skipping comments (keep-alives)', () => {
    const parser = new SseParser();
    const events = parser.push(
      ': stream open\n\nid: 7\nevent: task_run.state\ndata: {"payload":{"to":"Running"}}\n\n: heartbeat\n\n'
    );
    expect(events).toEqual([
      { id: '7', type: 'task_run.state', data: { payload: { to: 'Running' } } }
    ]);
  });

  it('joins events split anywhere across chunks, including between \\r and \\n', () => {
    const wire =
      'id: 1\r\nevent: log\r\ndata: {"a":1}\r\n\r\nid: 2\r\ndata: plain\r\ndata: text\r\n\r\n';
    for (let cut = 1; cut < wire.length; cut++) {
      const parser = new SseParser();
      const events = [
        ...parser.push(wire.slice(0, cut)),
        ...parser.push(wire.slice(cut))
      ];
      expect(events, `cut at ${cut}`).toEqual([
        { id: '1', type: 'log', data: { a: 1 } },
        { id: '2', type: 'message', data: 'plain\ntext' }
      ]);
    }
  });

  it('keeps the last id for events that carry none, and resets the type after each event', () => {
    const parser = new SseParser();
    expect(parser.push('id: 5\nevent: x\ndata: 1\n\ndata: 2\n\n')).toEqual([
      { id: '5', type: 'x', data: 1 },
      { id: '5', type: 'message', data: 2 }
    ]);
  });

  it('resumes after the last whole event only: an id cut off before its blank line does not count', () => {
    const parser = new SseParser();
    expect(parser.lastEventId).toBeNull();
    parser.push('id: 1\ndata: {}\n\nid: 2\ndata: {"half":');
    expect(parser.lastEventId).toBe('1');
    parser.push('true}\n\n');
    expect(parser.lastEventId).toBe('2');
  });
});

/** One event of the server's stream as it is written on the wire. */
function frame(id: number): string {
  const event: ICellflowEvent = {
    id,
    type: 'flow_run.state',
    flowId: 'f1',
    flowRunId: 'r1',
    payload: { to: 'Running' },
    at: '2026-01-01T00:00:00.000Z'
  };
  return `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

describe('EventStream', () => {
  it('reconnects after the stream breaks off and resumes with Last-Event-ID, missing and repeating nothing', async () => {
    const asked: (string | null)[] = [];
    // First connection: events 1 and 2, then event 3 cut off mid-way (a proxy drops the socket).
    // The server replays what follows the Last-Event-ID it is sent.
    const answers = [
      frame(1) + frame(2) + frame(3).slice(0, 20),
      frame(3) + frame(4)
    ];
    const client = new CellflowClient(
      ServerConnection.makeSettings({
        baseUrl: 'http://lab.test/',
        wsUrl: 'ws://lab.test/',
        fetch: async (input: RequestInfo, init?: RequestInit) => {
          const request = new Request(input, init);
          expect(request.url).toMatch(
            /^http:\/\/lab\.test\/cellflow\/api\/events\?runId=r1/
          );
          asked.push(request.headers.get('Last-Event-ID'));
          const text = answers.shift() ?? '';
          return new Response(
            new ReadableStream<Uint8Array>({
              start(controller) {
                // Split anywhere: chunks need not end with an event.
                const bytes = new TextEncoder().encode(text);
                controller.enqueue(bytes.slice(0, 7));
                controller.enqueue(bytes.slice(7));
                controller.close();
              }
            }),
            { status: 200, headers: { 'Content-Type': 'text/event-stream' } }
          );
        }
      })
    );
    const seen: number[] = [];
    const connections: boolean[] = [];
    await new Promise<void>(resolve => {
      const stream = new EventStream(client, {
        query: 'runId=r1',
        minDelayMs: 1,
        maxDelayMs: 2,
        onConnection: connected => connections.push(connected),
        onEvent: event => {
          seen.push(event.id);
          if (event.id === 4) {
            stream.dispose();
            resolve();
          }
        }
      });
    });
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(asked).toEqual([null, '2']);
    expect(connections.slice(0, 3)).toEqual([true, false, true]);
  });
});
