import { describe, expect, it } from 'vitest';

import { logTextRows } from '../log-text.js';

describe('logTextRows', () => {
  it('splits a log line into rows, a final line break adding none', () => {
    expect(logTextRows('extracted 10 users\n')).toEqual(['extracted 10 users']);
    expect(logTextRows('extracted 10 users')).toEqual(['extracted 10 users']);
    expect(logTextRows('a\nb\r\nc\n')).toEqual(['a', 'b', 'c']);
    expect(logTextRows('a\n\nb')).toEqual(['a', '', 'b']);
    expect(logTextRows('')).toEqual(['']);
  });
});
