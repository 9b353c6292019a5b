/**
 * Failed authentication is limited per client address: after the limit, 429 with Retry-After in the
 * project's error shape, without the key being looked at; other addresses are not affected; the window
 * frees the address again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FailedAuthLimit } from '../src/api/failed-auth-limit.js';
import { buildServer } from '../src/app.js';
import {
  newTenant,
  openTestStore,
  type TestStore
} from './support/api-fixture.js';

let db: TestStore;

beforeAll(async () => {
  db = await openTestStore();
});

afterAll(async () => {
  await db.close();
});

describe('failed authentication', () => {
  it('answers 429 with Retry-After once an address failed too often, and only that address', async () => {
    let now = 1_000_000;
    const limit = new FailedAuthLimit({
      max: 5,
      windowMs: 60_000,
      now: () => now
    });
    const app = await buildServer({ store: db.store, failedAuthLimit: limit });
    const tenant = await newTenant(db.store, 'limit');
    const from = (remoteAddress: string, authorization: string) =>
      app.inject({
        method: 'GET',
        url: '/api/flows',
        remoteAddress,
        headers: { authorization }
      });
    try {
      for (let i = 0; i < 5; i++) {
        expect((await from('10.0.0.1', 'Bearer cf_wrong')).statusCode).toBe(
          401
        );
        now += 1000;
      }
      const limited = await from('10.0.0.1', 'Bearer cf_wrong');
      expect(limited.statusCode).toBe(429);
      expect(limited.json()).toMatchObject({ error: 'too-many-requests' });
      // The oldest failure leaves the window 60 s after it: 55 s from now.
      expect(limited.headers['retry-after']).toBe('55');
      // Not even a good key is looked at from there while it waits.
      expect(
        (await from('10.0.0.1', tenant.headers.authorization)).statusCode
      ).toBe(429);
      // Another address is not affected.
      expect(
        (await from('10.0.0.2', tenant.headers.authorization)).statusCode
      ).toBe(200);
      expect((await from('10.0.0.2', 'Bearer cf_wrong')).statusCode).toBe(401);
      // Public routes stay open.
      expect(
        (
          await app.inject({
            method: 'GET',
            url: '/api/health',
            remoteAddress: '10.0.0.1'
          })
        ).statusCode
      ).toBe(200);
      now += 56_000;
      expect(
        (await from('10.0.0.1', tenant.headers.authorization)).statusCode
      ).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('limits by default: 20 failures a minute', async () => {
    const app = await buildServer({ store: db.store });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 22; i++) {
        const answer = await app.inject({
          method: 'GET',
          url: '/api/runs',
          headers: { authorization: 'Bearer cf_nope' }
        });
        codes.push(answer.statusCode);
      }
      expect(codes.slice(0, 20).every(c => c === 401)).toBe(true);
      expect(codes.slice(20)).toEqual([429, 429]);
    } finally {
      await app.close();
    }
  });

  it('has bounds', () => {
    expect(() => new FailedAuthLimit({ max: 0 })).toThrow(/limit/);
    expect(() => new FailedAuthLimit({ windowMs: 10 })).toThrow(/window/);
  });
});
