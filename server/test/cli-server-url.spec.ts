/** The CLI's reading of a server URL (the SSE parser's tests are in src/api/__tests__/sse.spec.ts). */
import { describe, expect, it } from 'vitest';

import { normaliseServerUrl } from '../src/cli/client.js';

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
