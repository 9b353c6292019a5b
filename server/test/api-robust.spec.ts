/**
 * Client input never gets a 5xx: every route of the OpenAPI document, sent a NUL character, a lone
 * surrogate, JSON nested 10,000 deep and ids of 150 and 1,500 characters, answers 4xx in the project's
 * error shape. And requests the document allows work: the document is valid OpenAPI 3.0 (checked by
 * a real validator), `{}` as a schedule is a 400 naming the field, an empty Last-Event-ID is no
 * header, and a known path asked with another method answers 405 with `Allow`.
 */
import { randomBytes } from 'node:crypto';

import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NotificationService } from '../src/notifications/service.js';
import { SecretBox } from '../src/secrets/secret-box.js';
import { WorkspaceSecrets } from '../src/secrets/workspace-secrets.js';
import {
  codeCell,
  etlNotebook,
  newTenant,
  notebookOf,
  openTestStore,
  testApp,
  type Tenant,
  type TestApp,
  type TestStore
} from './support/api-fixture.js';

let db: TestStore;
let t: TestApp;
let tenant: Tenant;
let doc: {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters: { name: string; in: string }[];
        requestBody?: {
          content: {
            'application/json': {
              schema: { properties?: Record<string, unknown> };
            };
          };
        };
      }
    >
  >;
};
/** A real id for each path parameter, so the other parts of a request reach the route. */
const ids: Record<string, string> = {};

beforeAll(async () => {
  db = await openTestStore();
  const secrets = new WorkspaceSecrets(
    db.store,
    new SecretBox(randomBytes(32))
  );
  const notifications = new NotificationService(db.store, secrets, {
    timeoutMs: 1000,
    smtp: null,
    publicUrl: null
  });
  t = await testApp(db.store, { secrets, notifications });
  tenant = await newTenant(db.store);
  const deployed = await call('POST', '/api/flows', {
    name: 'etl',
    notebook: etlNotebook()
  });
  ids.flowId = deployed.json().flow.id;
  const schedule = await call('POST', `/api/flows/${ids.flowId}/schedules`, {
    kind: 'interval',
    every: 3600,
    paused: true
  });
  ids.scheduleId = schedule.json().schedule.id;
  const run = await call('POST', `/api/flows/${ids.flowId}/runs`, {});
  ids.runId = run.json().run?.id ?? 'no-run';
  ids.name = 'API_TOKEN';
  doc = (
    await t.app.inject({ method: 'GET', url: '/api/openapi.json' })
  ).json();
});
afterAll(async () => {
  await t.app.close();
  await db.close();
});

function call(method: string, url: string, payload?: unknown) {
  return t.app.inject({
    method: method as 'GET',
    url,
    headers: tenant.headers,
    ...(payload !== undefined && { payload: payload as object })
  });
}

function raw(method: string, url: string, body: string) {
  return t.app.inject({
    method: method as 'GET',
    url,
    headers: { ...tenant.headers, 'content-type': 'application/json' },
    payload: body
  });
}

const fill = (path: string, id?: (name: string) => string) =>
  path.replace(/\{([^}]+)\}/g, (_, name: string) =>
    id ? id(name) : encodeURIComponent(ids[name] ?? 'x')
  );

const DEEP = '['.repeat(10_000) + ']'.repeat(10_000);

interface Case {
  label: string;
  method: string;
  url: string;
  body?: string;
}

/** Every bad request the table sends, built from the document's routes. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const pathParams = op.parameters.filter(p => p.in === 'path');
      const query = op.parameters.filter(p => p.in === 'query');
      const body = op.requestBody?.content['application/json'].schema;
      const at = (label: string) => `${method.toUpperCase()} ${path} ${label}`;
      const emptyBody = body ? '{}' : undefined;
      if (pathParams.length > 0) {
        for (const [label, id] of [
          ['NUL id', 'a%00b'],
          ['lone surrogate id', '%ED%A0%80'],
          ['150-char id', 'a'.repeat(150)],
          ['1500-char id', 'a'.repeat(1500)]
        ]) {
          out.push({
            label: at(label),
            method,
            url: fill(path, () => id),
            body: emptyBody
          });
        }
      }
      for (const q of query) {
        for (const [label, value] of [
          ['NUL', 'a%00b'],
          ['lone surrogate', '%ED%A0%80'],
          ['huge number', '1' + '0'.repeat(30)]
        ]) {
          out.push({
            label: at(`${label} in ?${q.name}`),
            method,
            url: `${fill(path)}?${q.name}=${value}`,
            body: emptyBody
          });
        }
      }
      if (body) {
        for (const field of Object.keys(body.properties ?? { x: {} })) {
          for (const [label, value] of [
            ['NUL', '"a\\u0000b"'],
            ['lone surrogate', '"\\ud800"'],
            ['10,000 deep', DEEP],
            ['NUL key', '{"a\\u0000": 1}']
          ]) {
            out.push({
              label: at(`${label} in ${field}`),
              method,
              url: fill(path),
              body: `{"${field}": ${value}}`
            });
          }
        }
        out.push({ label: at('{}'), method, url: fill(path), body: '{}' });
        out.push({
          label: at('deep body'),
          method,
          url: fill(path),
          body: DEEP
        });
      }
    }
  }
  return out;
}

describe('client input never gets a 5xx', () => {
  it('every route of the document answers each bad input with 4xx in the error shape', async () => {
    const table = cases();
    expect(table.length).toBeGreaterThan(100);
    const failures: string[] = [];
    for (const c of table) {
      const res =
        c.body === undefined
          ? await call(c.method, c.url)
          : await raw(c.method, c.url, c.body);
      const body = res.headers['content-type']?.includes('json')
        ? res.json()
        : null;
      const shaped =
        res.statusCode < 400 ||
        (typeof body?.error === 'string' && typeof body?.message === 'string');
      if (res.statusCode >= 500 || !shaped) {
        failures.push(
          `${c.label}: ${res.statusCode} ${res.body.slice(0, 160)}`
        );
      }
    }
    expect(failures).toEqual([]);
  });

  it('names the field of a NUL, a lone surrogate or too deep a nesting', async () => {
    const cases: [string, string, unknown, string][] = [
      [
        'POST',
        '/api/flows',
        { name: 'a\u0000b', notebook: etlNotebook() },
        'name'
      ],
      [
        'POST',
        '/api/flows',
        {
          name: 'nul-source',
          notebook: notebookOf([codeCell('%%task a\nx = "\u0000"', {}, 'c1')])
        },
        'notebook.cells.0.source.1'
      ],
      [
        'POST',
        `/api/flows/${ids.flowId}/runs`,
        { parameters: { url: 'http://a\u0000' } },
        'parameters.url'
      ]
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await call(method, url, payload);
      expect(res.statusCode, field).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad-request', field });
    }
    const surrogate = await raw(
      'POST',
      '/api/flows',
      '{"name":"\\ud800","notebook":{}}'
    );
    expect(surrogate.statusCode).toBe(400);
    expect(surrogate.json()).toMatchObject({ field: 'name' });
    const deep = await raw(
      'POST',
      `/api/flows/${ids.flowId}/schedules`,
      `{"kind":"interval","every":10,"parameters":{"limit":${DEEP}}}`
    );
    expect(deep.statusCode).toBe(400);
    expect(deep.json().message).toMatch(/nested too deep/);
    expect(deep.json().field).toMatch(/^parameters\.limit/);
    const query = await call('GET', '/api/runs?flowId=a%00b');
    expect(query.statusCode).toBe(400);
    expect(query.json()).toMatchObject({ field: 'flowId' });
    const id = await call('GET', '/api/flows/a%00b');
    expect(id.statusCode).toBe(400);
    expect(id.json()).toMatchObject({ field: 'flowId' });
  });

  it('refuses a whitespace-only flow name, naming it', async () => {
    const res = await call('POST', '/api/flows', {
      name: '   ',
      notebook: etlNotebook()
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'bad-request', field: 'name' });
  });

  it('answers an id past the router limit with 400 in the error shape', async () => {
    const res = await call('GET', `/api/flows/${'a'.repeat(1500)}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'bad-request' });
  });
});

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.0', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.0');
  });

  it('spells exclusive minimums and nullable anyOf in the 3.0 dialect', () => {
    const spec = (
      doc.paths['/api/flows'].post.requestBody!.content['application/json']
        .schema as {
        properties: {
          spec: {
            properties: {
              parametersCell: Record<string, unknown>;
              tasks: { items: { properties: { timeout: unknown } } };
            };
          };
        };
      }
    ).properties.spec.properties;
    expect(spec.tasks.items.properties.timeout).toEqual({
      type: 'number',
      nullable: true,
      minimum: 0,
      exclusiveMinimum: true,
      maximum: 604800
    });
    expect(spec.parametersCell).toMatchObject({
      type: 'object',
      nullable: true
    });
    expect(spec.parametersCell.anyOf).toBeUndefined();
  });
});

describe('requests the document allows', () => {
  it('{} as a schedule is a 400 naming the missing field', async () => {
    const res = await call('POST', `/api/flows/${ids.flowId}/schedules`, {});
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'bad-request', field: 'kind' });
  });

  it('an empty Last-Event-ID is no header', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/events',
      headers: { ...tenant.headers, 'last-event-id': '' }
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().events).toEqual(expect.any(Array));
  });

  it('another method on a known path answers 405 with Allow, in the error shape', async () => {
    const res = await call('PUT', `/api/flows/${ids.flowId}`, { paused: true });
    expect(res.statusCode).toBe(405);
    expect(res.json()).toMatchObject({ error: 'method-not-allowed' });
    expect(String(res.headers.allow).split(', ')).toEqual(
      expect.arrayContaining(['DELETE', 'GET', 'PATCH'])
    );
    const list = await call('DELETE', '/api/flows');
    expect(list.statusCode).toBe(405);
    expect(String(list.headers.allow)).toMatch(/GET/);
    expect(String(list.headers.allow)).toMatch(/POST/);
    const unknown = await call('GET', '/api/nothing-here');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'not-found' });
  });
});
