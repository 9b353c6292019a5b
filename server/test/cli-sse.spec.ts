/** The CLI's Server-Sent Events parser: the wire format as servers and proxies actually chunk it. */
import { describe, expect, it } from 'vitest';

import { normaliseServerUrl, SseParser } from '../src/cli/client.js';

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
});

describe('normaliseServerUrl', () => {
  it('drops trailing slashes and /api, and refuses what is not an http(s) URL', () => {
    expect(normaliseServerUrl('http://127.0.0.1:8787/')).toBe(
      'http://127.0.0.1:8787'
    );
    expect(normaliseServerUrl('https://flows.example/cellflow/api/')).toBe(
      'https://flows.example/cellflow'
    );
    expect(() => normaliseServerUrl('localhost:8787')).toThrow(
      'the server URL must start with http:// or https://, got "localhost:8787"'
    );
    expect(() => normaliseServerUrl('127.0.0.1:8787')).toThrow(
      '"127.0.0.1:8787" is not a server URL; give one like http://127.0.0.1:8787'
    );
    expect(() => normaliseServerUrl('nonsense')).toThrow(
      '"nonsense" is not a server URL; give one like http://127.0.0.1:8787'
    );
    expect(() => normaliseServerUrl('http://me:secret@host')).toThrow(
      'the server URL must not contain a user name or password'
    );
  });
});
