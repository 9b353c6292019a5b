import { describe, expect, it } from 'vitest';

import { FakeTransport } from './fake-transport.js';

describe('Run now with Refresh cache', () => {
  it('asks the server for refreshCache only when the option is ticked', async () => {
    const transport = new FakeTransport();
    const client = transport.client();
    const sent = async (options?: { refreshCache?: boolean }) => {
      // The fake has no run starts: only the request the panel sends matters here.
      await client.startRun('f1', { rows: 3 }, options).catch(() => undefined);
      const request = transport.requests.at(-1)!;
      expect(request).toMatchObject({
        method: 'POST',
        path: 'cellflow/api/flows/f1/runs'
      });
      return JSON.parse(request.body!);
    };
    expect(await sent()).toEqual({ parameters: { rows: 3 } });
    expect(await sent({ refreshCache: false })).toEqual({
      parameters: { rows: 3 }
    });
    expect(await sent({ refreshCache: true })).toEqual({
      parameters: { rows: 3 },
      refreshCache: true
    });
  });
});
