/**
 * /api/secrets over a real PGlite store and the real secrets service: set (201 new, 200 replaced),
 * list, delete (204, then 404), 400s naming the field, workspaces kept apart, 503 without the service,
 * and a value that never comes back in an answer or reaches the log.
 */
import { randomBytes, randomUUID } from 'node:crypto';

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildServer } from '../src/app.js';
import { SecretBox, SecretDecryptError } from '../src/secrets/secret-box.js';
import { WorkspaceSecrets } from '../src/secrets/workspace-secrets.js';
import {
  newTenant,
  openTestStore,
  testApp,
  type Tenant,
  type TestApp,
  type TestStore
} from './support/api-fixture.js';

let db: TestStore;
let secrets: WorkspaceSecrets;
let t: TestApp;

beforeAll(async () => {
  db = await openTestStore();
  secrets = new WorkspaceSecrets(db.store, new SecretBox(randomBytes(32)));
  t = await testApp(db.store, { secrets });
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

const distinctive = () => `value-${randomUUID()}-${randomUUID()}`;

function put(tenant: Tenant, name: string, payload: unknown, app = t.app) {
  return app.inject({
    method: 'PUT',
    url: `/api/secrets/${encodeURIComponent(name)}`,
    headers: tenant.headers,
    payload: payload as object
  });
}
const list = (tenant: Tenant, app: FastifyInstance = t.app) =>
  app.inject({ method: 'GET', url: '/api/secrets', headers: tenant.headers });
const del = (tenant: Tenant, name: string, app: FastifyInstance = t.app) =>
  app.inject({
    method: 'DELETE',
    url: `/api/secrets/${encodeURIComponent(name)}`,
    headers: tenant.headers
  });

describe('/api/secrets', () => {
  it('sets (201), replaces (200), lists by name and deletes (204, then 404), never answering a value', async () => {
    const tenant = await newTenant(db.store);
    const [first, second, other] = [
      distinctive(),
      distinctive(),
      distinctive()
    ];

    const created = await put(tenant, 'TOKEN', { value: first });
    expect(created.statusCode).toBe(201);
    expect(Object.keys(created.json()).sort()).toEqual([
      'createdAt',
      'name',
      'updatedAt'
    ]);
    expect(created.json()).toEqual({
      name: 'TOKEN',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      updatedAt: created.json().createdAt
    });

    const replaced = await put(tenant, 'TOKEN', { value: second });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json().createdAt).toBe(created.json().createdAt);
    expect(Date.parse(replaced.json().updatedAt)).toBeGreaterThan(
      Date.parse(created.json().updatedAt)
    );
    expect((await put(tenant, 'API_URL', { value: other })).statusCode).toBe(
      201
    );

    const listed = await list(tenant);
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toEqual({
      secrets: [
        {
          name: 'API_URL',
          createdAt: expect.any(String),
          updatedAt: expect.any(String)
        },
        replaced.json()
      ]
    });
    expect(await secrets.envFor(tenant.workspace.id)).toEqual({
      API_URL: other,
      TOKEN: second
    });

    const deleted = await del(tenant, 'TOKEN');
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    const again = await del(tenant, 'TOKEN');
    expect(again.statusCode).toBe(404);
    expect(again.json()).toEqual({
      error: 'not-found',
      message: 'Secret TOKEN not found'
    });
    expect(
      (await list(tenant)).json().secrets.map((s: { name: string }) => s.name)
    ).toEqual(['API_URL']);

    for (const res of [created, replaced, listed, deleted, again]) {
      for (const value of [first, second, other]) {
        expect(res.body).not.toContain(value);
      }
    }
  });

  it('refuses bad names (field "name") and bad values (field "value") with 400, storing nothing', async () => {
    const tenant = await newTenant(db.store);
    const value = distinctive();
    const badNames = [
      'PATH',
      'pythonpath',
      'LC_ALL',
      'CELLFLOW_X',
      '1ABC',
      'A-B',
      'É',
      'X'.repeat(129)
    ];
    for (const name of badNames) {
      for (const res of [
        await put(tenant, name, { value }),
        await del(tenant, name)
      ]) {
        expect(res.statusCode, name).toBe(400);
        expect(res.json(), name).toMatchObject({
          error: 'bad-request',
          field: 'name'
        });
        expect(res.body).not.toContain(value);
      }
    }
    expect((await put(tenant, 'PATH', { value })).json().message).toBe(
      "PATH is reserved: the kernel's environment needs it"
    );

    const badValues: [string, unknown, RegExp][] = [
      ['missing', {}, /"value" is required/],
      ['a number', { value: 7 }, /"value" must be string/],
      ['null', { value: null }, /"value" must be string/],
      ['empty', { value: '' }, /must not be empty/],
      ['with NUL', { value: `${value}\0` }, /NUL/],
      ['too long', { value: 'x'.repeat(65_537) }, /at most 65536 bytes/],
      ['a lone surrogate', { value: `${value}\uD800` }, /valid Unicode/]
    ];
    for (const [label, payload, message] of badValues) {
      const res = await put(tenant, 'OK_NAME', payload);
      expect(res.statusCode, label).toBe(400);
      expect(res.json(), label).toMatchObject({
        error: 'bad-request',
        field: 'value'
      });
      expect(res.json().message, label).toMatch(message);
      expect(res.body).not.toContain(value);
    }
    const extra = await put(tenant, 'OK_NAME', { value, other: 1 });
    expect(extra.statusCode).toBe(400);
    expect(extra.json()).toMatchObject({ field: 'other' });
    expect((await list(tenant)).json()).toEqual({ secrets: [] });

    // The largest value and a multi-line one are taken as they are.
    const big = 'é'.repeat(32_768);
    expect((await put(tenant, 'BIG', { value: big })).statusCode).toBe(201);
    const pem = '-----BEGIN-----\nabc\n-----END-----\n';
    expect((await put(tenant, 'PEM', { value: pem })).statusCode).toBe(201);
    expect(await secrets.envFor(tenant.workspace.id)).toEqual({
      BIG: big,
      PEM: pem
    });
  });

  it("keeps workspaces apart: another workspace's key never reads, replaces or deletes a secret", async () => {
    const owner = await newTenant(db.store);
    const stranger = await newTenant(db.store, 'stranger');
    const mine = distinctive();
    const theirs = distinctive();
    expect((await put(owner, 'SHARED_NAME', { value: mine })).statusCode).toBe(
      201
    );
    expect((await put(owner, 'OWNER_ONLY', { value: mine })).statusCode).toBe(
      201
    );

    // The stranger's secret of the same name is its own: new (201), not a replace of the owner's.
    expect(
      (await put(stranger, 'SHARED_NAME', { value: theirs })).statusCode
    ).toBe(201);
    const strangerList = await list(stranger);
    expect(
      strangerList.json().secrets.map((s: { name: string }) => s.name)
    ).toEqual(['SHARED_NAME']);
    expect(strangerList.body).not.toContain('OWNER_ONLY');
    expect((await del(stranger, 'OWNER_ONLY')).statusCode).toBe(404);

    expect(await secrets.envFor(owner.workspace.id)).toEqual({
      OWNER_ONLY: mine,
      SHARED_NAME: mine
    });
    expect(await secrets.envFor(stranger.workspace.id)).toEqual({
      SHARED_NAME: theirs
    });
    expect((await del(stranger, 'SHARED_NAME')).statusCode).toBe(204);
    expect(Object.keys(await secrets.envFor(owner.workspace.id))).toEqual([
      'OWNER_ONLY',
      'SHARED_NAME'
    ]);
  });

  it('binds each value to its workspace and name: a row copied across workspaces does not decrypt', async () => {
    const owner = await newTenant(db.store);
    const stranger = await newTenant(db.store, 'stranger');
    await put(owner, 'TOKEN', { value: distinctive() });
    const [sealed] = await db.store.getSecretCiphertexts(owner.workspace.id);
    await db.store.putSecret(stranger.workspace.id, 'TOKEN', sealed.ciphertext);
    await expect(secrets.envFor(stranger.workspace.id)).rejects.toBeInstanceOf(
      SecretDecryptError
    );
  });

  it('answers 503 on every secrets route without the secrets service (after the key check)', async () => {
    const app = await buildServer({ store: db.store });
    try {
      const tenant = await newTenant(db.store);
      for (const res of [
        await list(tenant, app),
        await put(tenant, 'TOKEN', { value: 'x' }, app),
        await del(tenant, 'TOKEN', app)
      ]) {
        expect(res.statusCode).toBe(503);
        expect(res.json()).toEqual({
          error: 'unavailable',
          message:
            'This server was started without workspace secrets (no secrets key): secrets cannot be read or set'
        });
      }
      const anonymous = await app.inject({
        method: 'GET',
        url: '/api/secrets'
      });
      expect(anonymous.statusCode).toBe(401);
    } finally {
      await app.close();
    }
  });

  it('lets the lab origin PUT through CORS', async () => {
    const preflight = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/secrets/TOKEN',
      headers: {
        origin: 'http://localhost:8888',
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'authorization,content-type'
      }
    });
    expect(preflight.statusCode).toBe(204);
    expect(String(preflight.headers['access-control-allow-methods'])).toContain(
      'PUT'
    );
  });

  it('never writes a value to the log, even from a refused or malformed request', async () => {
    const lines: string[] = [];
    const app = await buildServer({
      store: db.store,
      secrets,
      logger: true,
      logStream: { write: line => void lines.push(line) }
    });
    try {
      const tenant = await newTenant(db.store);
      const value = distinctive();
      await put(tenant, 'TOKEN', { value }, app);
      await put(tenant, 'TOKEN', { value }, app);
      await put(tenant, 'PATH', { value }, app);
      await put(tenant, 'TOKEN', { value: `${value}\0` }, app);
      await put(tenant, 'TOKEN', { value, extra: value }, app);
      const malformed = await app.inject({
        method: 'PUT',
        url: '/api/secrets/TOKEN',
        headers: { ...tenant.headers, 'content-type': 'application/json' },
        payload: `{"value": "${value}", oops}`
      });
      expect(malformed.statusCode).toBe(400);
      await app.inject({
        method: 'PUT',
        url: `/api/secrets/TOKEN?value=${value}`,
        headers: tenant.headers,
        payload: { value }
      });
      await list(tenant, app);
      await del(tenant, 'TOKEN', app);
      const log = lines.join('');
      expect(log).toContain('/api/secrets/TOKEN');
      expect(log).toContain('"statusCode":400');
      expect(log).not.toContain(value);
      expect(log).not.toContain(Buffer.from(value).toString('base64'));
    } finally {
      await app.close();
    }
  });
});
