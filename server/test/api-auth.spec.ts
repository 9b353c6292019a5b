/**
 * The auth matrix, over every authenticated route: no key, a malformed header, an unknown key and a
 * revoked key all get the same 401; another workspace's flow or run is a 404; a foreign Host is a 403.
 * Also CORS for the lab's origin, and that a key never reaches the log.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildServer } from '../src/app.js';
import { NotificationService } from '../src/notifications/service.js';
import { SecretBox } from '../src/secrets/secret-box.js';
import { WorkspaceSecrets } from '../src/secrets/workspace-secrets.js';
import {
  etlNotebook,
  newTenant,
  openTestStore,
  testApp,
  type Tenant,
  type TestApp,
  type TestStore
} from './support/api-fixture.js';

interface Ids {
  flowId: string;
  runId: string;
  scheduleId: string;
  /** A secret of the owner's workspace. */
  secretName: string;
  /** A notification rule of the owner's workspace. */
  ruleId: string;
}

interface RouteCase {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: (ids: Ids) => string;
  payload?: (ids: Ids) => unknown;
  /** Whether the route names a flow, run or secret, so another workspace's ids must give 404. */
  scoped: boolean;
}

/** Every route that needs a key. A test below checks this list against the routes the server has. */
const ROUTES: RouteCase[] = [
  { name: 'me', method: 'GET', url: () => '/api/me', scoped: false },
  {
    name: 'deploy',
    method: 'POST',
    url: () => '/api/flows',
    payload: () => ({ name: 'etl', notebook: etlNotebook() }),
    scoped: false
  },
  { name: 'list flows', method: 'GET', url: () => '/api/flows', scoped: false },
  {
    name: 'get flow',
    method: 'GET',
    url: ids => `/api/flows/${ids.flowId}`,
    scoped: true
  },
  {
    name: 'patch flow',
    method: 'PATCH',
    url: ids => `/api/flows/${ids.flowId}`,
    payload: () => ({ paused: true }),
    scoped: true
  },
  {
    name: 'delete flow',
    method: 'DELETE',
    url: ids => `/api/flows/${ids.flowId}`,
    scoped: true
  },
  {
    name: 'start run',
    method: 'POST',
    url: ids => `/api/flows/${ids.flowId}/runs`,
    payload: () => ({}),
    scoped: true
  },
  { name: 'list runs', method: 'GET', url: () => '/api/runs', scoped: false },
  {
    name: 'list workers',
    method: 'GET',
    url: () => '/api/workers',
    scoped: false
  },
  {
    name: 'list runs of a flow',
    method: 'GET',
    url: ids => `/api/runs?flowId=${ids.flowId}`,
    scoped: true
  },
  {
    name: 'get run',
    method: 'GET',
    url: ids => `/api/runs/${ids.runId}`,
    scoped: true
  },
  {
    name: 'cancel run',
    method: 'POST',
    url: ids => `/api/runs/${ids.runId}/cancel`,
    scoped: true
  },
  {
    name: 'retry run',
    method: 'POST',
    url: ids => `/api/runs/${ids.runId}/retry`,
    scoped: true
  },
  {
    name: 'run logs',
    method: 'GET',
    url: ids => `/api/runs/${ids.runId}/logs`,
    scoped: true
  },
  {
    name: 'run notebook',
    method: 'GET',
    url: ids => `/api/runs/${ids.runId}/notebook`,
    scoped: true
  },
  {
    name: 'add schedule',
    method: 'POST',
    url: ids => `/api/flows/${ids.flowId}/schedules`,
    payload: () => ({ kind: 'interval', every: 60 }),
    scoped: true
  },
  {
    name: 'list schedules',
    method: 'GET',
    url: ids => `/api/flows/${ids.flowId}/schedules`,
    scoped: true
  },
  {
    name: 'get schedule',
    method: 'GET',
    url: ids => `/api/schedules/${ids.scheduleId}`,
    scoped: true
  },
  {
    name: 'patch schedule',
    method: 'PATCH',
    url: ids => `/api/schedules/${ids.scheduleId}`,
    payload: () => ({ paused: true }),
    scoped: true
  },
  {
    name: 'delete schedule',
    method: 'DELETE',
    url: ids => `/api/schedules/${ids.scheduleId}`,
    scoped: true
  },
  {
    name: 'preview schedule',
    method: 'POST',
    url: () => '/api/schedules/preview',
    payload: () => ({ schedule: { kind: 'interval', every: 10 } }),
    scoped: false
  },
  {
    name: 'overlap policy',
    method: 'PATCH',
    url: ids => `/api/flows/${ids.flowId}/overlap`,
    payload: () => ({ overlap: 'skip' }),
    scoped: true
  },
  {
    name: 'flow settings',
    method: 'PATCH',
    url: ids => `/api/flows/${ids.flowId}/settings`,
    payload: () => ({ retries: 1 }),
    scoped: true
  },
  { name: 'events', method: 'GET', url: () => '/api/events', scoped: false },
  {
    name: 'events of a flow',
    method: 'GET',
    url: ids => `/api/events?flowId=${ids.flowId}`,
    scoped: true
  },
  {
    name: 'events of a run',
    method: 'GET',
    url: ids => `/api/events?runId=${ids.runId}`,
    scoped: true
  },
  {
    name: 'list secrets',
    method: 'GET',
    url: () => '/api/secrets',
    scoped: false
  },
  {
    name: 'set secret',
    method: 'PUT',
    url: ids => `/api/secrets/${ids.secretName}`,
    payload: () => ({ value: 'the stranger value' }),
    // Another workspace setting the same name makes its own secret, leaving the owner's alone.
    scoped: false
  },
  {
    name: 'delete secret',
    method: 'DELETE',
    url: ids => `/api/secrets/${ids.secretName}`,
    scoped: true
  },
  {
    name: 'list notification rules',
    method: 'GET',
    url: () => '/api/notifications/rules',
    scoped: false
  },
  {
    name: 'add notification rule',
    method: 'POST',
    url: () => '/api/notifications/rules',
    payload: () => ({
      events: ['Failed'],
      kind: 'slack',
      url: 'http://127.0.0.1:9/services/stranger'
    }),
    scoped: false
  },
  {
    name: 'test notification rule',
    method: 'POST',
    url: ids => `/api/notifications/rules/${ids.ruleId}/test`,
    scoped: true
  },
  {
    name: 'remove notification rule',
    method: 'DELETE',
    url: ids => `/api/notifications/rules/${ids.ruleId}`,
    scoped: true
  },
  {
    name: 'notification deliveries',
    method: 'GET',
    url: ids => `/api/notifications/deliveries?flowRunId=${ids.runId}`,
    scoped: false
  }
];

const SECRET_VALUE = `owner-secret-${randomBytes(12).toString('hex')}`;

let db: TestStore;
let t: TestApp;
let secrets: WorkspaceSecrets;

beforeAll(async () => {
  db = await openTestStore();
  secrets = new WorkspaceSecrets(db.store, new SecretBox(randomBytes(32)));
  const notifications = new NotificationService(db.store, secrets, {
    timeoutMs: 1000,
    smtp: null,
    publicUrl: null
  });
  t = await testApp(db.store, { secrets, notifications });
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

/** A tenant with a flow and a failed run (so retry and cancel have something to refuse or do). */
async function tenantWithRun(): Promise<Tenant & Ids> {
  const tenant = await newTenant(db.store);
  const deployed = await t.app.inject({
    method: 'POST',
    url: '/api/flows',
    headers: tenant.headers,
    payload: { name: 'etl', notebook: etlNotebook() }
  });
  const flowId = deployed.json().flow.id as string;
  const run = await t.app.inject({
    method: 'POST',
    url: `/api/flows/${flowId}/runs`,
    headers: tenant.headers,
    payload: {}
  });
  const runId = run.json().run.id as string;
  await db.store.saveExecutedNotebook(runId, etlNotebook());
  // A paused schedule: it exists for the schedule routes, and plans no runs.
  const schedule = await t.app.inject({
    method: 'POST',
    url: `/api/flows/${flowId}/schedules`,
    headers: tenant.headers,
    payload: { kind: 'interval', every: 3600, paused: true }
  });
  const scheduleId = schedule.json().schedule.id as string;
  const secretName = `OWNER_${randomBytes(6).toString('hex').toUpperCase()}`;
  await secrets.set(tenant.workspace.id, secretName, SECRET_VALUE);
  const rule = await t.app.inject({
    method: 'POST',
    url: '/api/notifications/rules',
    headers: tenant.headers,
    payload: { events: ['Failed'], kind: 'slack', url: 'http://127.0.0.1:9/x' }
  });
  const ruleId = rule.json().id as string;
  return { ...tenant, flowId, runId, scheduleId, secretName, ruleId };
}

/** The owner's secret is as it was set. */
async function ownerSecretUntouched(owner: Tenant & Ids): Promise<void> {
  expect(await secrets.envFor(owner.workspace.id)).toEqual({
    [owner.secretName]: SECRET_VALUE
  });
}

function request(route: RouteCase, ids: Ids, headers: Record<string, string>) {
  return t.app.inject({
    method: route.method,
    url: route.url(ids),
    headers,
    ...(route.payload ? { payload: route.payload(ids) as object } : {})
  });
}

describe('the route list', () => {
  it('covers every route of the server but the public ones (health, server info, the OpenAPI document)', async () => {
    const doc = (
      await t.app.inject({ method: 'GET', url: '/api/openapi.json' })
    ).json();
    const served = Object.entries(doc.paths as Record<string, object>).flatMap(
      ([path, ops]) =>
        Object.keys(ops).map(method => `${method.toUpperCase()} ${path}`)
    );
    const ids = {
      flowId: '{flowId}',
      runId: '{runId}',
      scheduleId: '{scheduleId}',
      secretName: '{name}',
      ruleId: '{ruleId}'
    };
    const listed = new Set(
      ROUTES.map(r => `${r.method} ${r.url(ids).split('?')[0]}`)
    );
    const publicRoutes = [
      'GET /api/health',
      'GET /api/server',
      'GET /api/openapi.json'
    ];
    expect(new Set(served)).toEqual(new Set([...listed, ...publicRoutes]));
  });
});

describe.each(ROUTES)('$method $name', route => {
  it('refuses a request without a key, with a malformed header, an unknown key or a revoked key', async () => {
    const owner = await tenantWithRun();
    const revoked = await db.store.createApiKey(
      owner.workspace.id,
      'to revoke'
    );
    expect(
      await db.store.revokeApiKey(owner.workspace.id, revoked.key.id)
    ).toBe(true);
    const unknown = 'cf_' + randomBytes(32).toString('base64url');
    const cases: [string, Record<string, string>][] = [
      ['no key', {}],
      ['not bearer', { authorization: `Basic ${owner.secret}` }],
      ['not a key', { authorization: 'Bearer hello' }],
      ['unknown key', { authorization: `Bearer ${unknown}` }],
      ['revoked key', { authorization: `Bearer ${revoked.secret}` }]
    ];
    for (const [label, headers] of cases) {
      const res = await request(route, owner, headers);
      expect(res.statusCode, label).toBe(401);
      expect(res.json(), label).toEqual({
        error: 'unauthorized',
        message: 'Missing, invalid or revoked API key'
      });
      expect(res.body).not.toContain(owner.secret);
      expect(res.body).not.toContain(revoked.secret);
      expect(res.body).not.toContain(unknown);
    }
    // Nothing was changed by the refused requests.
    const flow = await db.store.getFlow(owner.workspace.id, owner.flowId);
    expect(flow?.paused).toBe(false);
    expect((await db.store.getRunById(owner.runId))?.state).toBe('Pending');
    await ownerSecretUntouched(owner);
  });

  it.runIf(route.scoped)(
    "answers 404 for another workspace's flow or run",
    async () => {
      const owner = await tenantWithRun();
      const stranger = await newTenant(db.store, 'stranger');
      const res = await request(route, owner, stranger.headers);
      expect(res.statusCode).toBe(404);
      expect(res.json().error).toBe('not-found');
      expect(
        (await db.store.getFlow(owner.workspace.id, owner.flowId))?.paused
      ).toBe(false);
      expect((await db.store.getRunById(owner.runId))?.state).toBe('Pending');
      expect(res.body).not.toContain(SECRET_VALUE);
      await ownerSecretUntouched(owner);
    }
  );

  it.runIf(!route.scoped)(
    "shows none of another workspace's rows",
    async () => {
      const owner = await tenantWithRun();
      const stranger = await newTenant(db.store, 'stranger');
      const res = await request(route, owner, stranger.headers);
      expect(res.statusCode).toBeLessThan(300);
      expect(res.body).not.toContain(owner.flowId);
      expect(res.body).not.toContain(owner.runId);
      expect(res.body).not.toContain(owner.workspace.id);
      expect(res.body).not.toContain(SECRET_VALUE);
      if (!route.url(owner).includes(owner.secretName)) {
        expect(res.body).not.toContain(owner.secretName);
      }
      await ownerSecretUntouched(owner);
    }
  );

  it('answers 403 to a Host header the server is not configured for', async () => {
    const owner = await tenantWithRun();
    const res = await request(route, owner, {
      ...owner.headers,
      host: 'evil.example:8787'
    });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({
      error: 'forbidden',
      setting: '--allowed-host',
      message:
        'Host "evil.example:8787" is not allowed: if this server should answer to that name, start it with --allowed-host evil.example (or set CELLFLOW_ALLOWED_HOSTS=evil.example)'
    });
  });
});

describe('keys', () => {
  it('records when a key was last used', async () => {
    const tenant = await newTenant(db.store);
    const [before] = await db.store.listApiKeys(tenant.workspace.id);
    expect(before.lastUsedAt).toBeNull();
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/me',
      headers: tenant.headers
    });
    expect(res.statusCode).toBe(200);
    const [after] = await db.store.listApiKeys(tenant.workspace.id);
    expect(after.lastUsedAt).toBeInstanceOf(Date);
  });
});

describe('Host check', () => {
  it('accepts loopback names on any port by default, health included', async () => {
    for (const host of [
      '127.0.0.1:8787',
      'localhost:9999',
      'localhost',
      '[::1]:8787'
    ]) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/health',
        headers: { host }
      });
      expect(res.statusCode, host).toBe(200);
    }
    for (const host of [
      '127.0.0.1.evil.example:8787',
      'example.com',
      'localhost.evil.example'
    ]) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/health',
        headers: { host }
      });
      expect(res.statusCode, host).toBe(403);
    }
  });

  it('accepts exactly the configured hosts when allowedHosts is given', async () => {
    const app = await buildServer({
      store: db.store,
      allowedHosts: ['cellflow.internal:443', 'box']
    });
    try {
      const status = async (host: string) =>
        (
          await app.inject({
            method: 'GET',
            url: '/api/health',
            headers: { host }
          })
        ).statusCode;
      expect(await status('cellflow.internal:443')).toBe(200);
      expect(await status('cellflow.internal:8443')).toBe(403);
      expect(await status('box:1234')).toBe(200);
      expect(await status('localhost:8787')).toBe(403);
    } finally {
      await app.close();
    }
  });
});

describe('CORS', () => {
  it("lets the lab's origin send the Authorization header, and no other origin", async () => {
    const preflight = (origin: string) =>
      t.app.inject({
        method: 'OPTIONS',
        url: '/api/flows',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type'
        }
      });
    const lab = await preflight('http://localhost:8888');
    expect(lab.statusCode).toBe(204);
    expect(lab.headers['access-control-allow-origin']).toBe(
      'http://localhost:8888'
    );
    expect(
      String(lab.headers['access-control-allow-headers']).toLowerCase()
    ).toContain('authorization');
    const other = await preflight('http://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();

    const tenant = await newTenant(db.store);
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/me',
      headers: { ...tenant.headers, origin: 'http://127.0.0.1:8888' }
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(
      'http://127.0.0.1:8888'
    );
  });
});

describe('logging', () => {
  it('never writes a key, a key hash or the Authorization header to the log', async () => {
    const lines: string[] = [];
    const app = await buildServer({
      store: db.store,
      logger: true,
      logStream: { write: line => void lines.push(line) }
    });
    try {
      const tenant = await newTenant(db.store);
      const revoked = await db.store.createApiKey(tenant.workspace.id, 'old');
      await db.store.revokeApiKey(tenant.workspace.id, revoked.key.id);
      const unknown = 'cf_' + randomBytes(32).toString('base64url');
      for (const secret of [tenant.secret, revoked.secret, unknown]) {
        await app.inject({
          method: 'GET',
          url: '/api/me',
          headers: { authorization: `Bearer ${secret}` }
        });
        await app.inject({
          method: 'GET',
          url: '/api/runs/missing?after=1',
          headers: { authorization: `Bearer ${secret}` }
        });
      }
      const log = lines.join('');
      // The logger did log these requests, so the check below is not vacuous.
      expect(log).toContain('/api/me');
      expect(log).toContain('"statusCode":401');
      for (const secret of [tenant.secret, revoked.secret, unknown]) {
        expect(log).not.toContain(secret);
        expect(log).not.toContain(secret.slice(3));
      }
      expect(log.toLowerCase()).not.toContain('authorization');
      expect(log).not.toContain('Bearer');
    } finally {
      await app.close();
    }
  });
});
