import { describe, expect, it } from 'vitest';

import { buildServer } from '../src/app.js';
import { VERSION } from '../src/version.js';

describe('GET /api/health', () => {
  it('answers with the server version', async () => {
    const app = await buildServer();
    const res = await app.inject({ method: 'GET', url: '/api/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', version: VERSION });
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
    await app.close();
  });
});
