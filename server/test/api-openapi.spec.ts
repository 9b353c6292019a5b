import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildServer } from '../src/app.js';
import { VERSION } from '../src/version.js';
import { openTestStore, type TestStore } from './support/api-fixture.js';
import type { FastifyInstance } from 'fastify';

let db: TestStore;
let app: FastifyInstance;

beforeAll(async () => {
  db = await openTestStore();
  app = await buildServer({ store: db.store });
});
afterAll(async () => {
  await app.close();
  await db.close();
});

/** Every `type` member anywhere in the document, to check the 3.0 dialect (no type arrays). */
function typeMembers(
  value: unknown,
  found: unknown[] = [],
  inProperties = false
): unknown[] {
  if (Array.isArray(value)) {
    value.forEach(v => typeMembers(v, found));
  } else if (value && typeof value === 'object') {
    for (const [key, member] of Object.entries(value)) {
      // Under `properties`, "type" is a field's name (an event's type), not a schema keyword.
      if (key === 'type' && !inProperties) {
        found.push(member);
      }
      typeMembers(member, found, key === 'properties' && !inProperties);
    }
  }
  return found;
}

describe('GET /api/openapi.json', () => {
  it('describes every route from its registered schemas, without a key', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.0.3');
    expect(doc.info.version).toBe(VERSION);
    expect(doc.components.securitySchemes.apiKey).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' })
    );
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/events',
      '/api/flows',
      '/api/flows/{flowId}',
      '/api/flows/{flowId}/overlap',
      '/api/flows/{flowId}/runs',
      '/api/flows/{flowId}/schedules',
      '/api/flows/{flowId}/settings',
      '/api/health',
      '/api/me',
      '/api/notifications/deliveries',
      '/api/notifications/rules',
      '/api/notifications/rules/{ruleId}',
      '/api/notifications/rules/{ruleId}/test',
      '/api/openapi.json',
      '/api/runs',
      '/api/runs/{runId}',
      '/api/runs/{runId}/cancel',
      '/api/runs/{runId}/logs',
      '/api/runs/{runId}/notebook',
      '/api/runs/{runId}/retry',
      '/api/schedules/preview',
      '/api/schedules/{scheduleId}',
      '/api/secrets',
      '/api/secrets/{name}',
      '/api/server',
      '/api/workers'
    ]);
    const deploy = doc.paths['/api/flows'].post;
    const body = deploy.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['name']);
    expect(Object.keys(body.properties)).toEqual([
      'name',
      'notebook',
      'spec',
      'kernelName'
    ]);
    expect(
      deploy.responses['201'].content['application/json'].schema.properties.flow
        .properties.id
    ).toEqual({
      type: 'string'
    });
    expect(
      deploy.responses['400'].content['application/json'].schema.required
    ).toEqual(['error', 'message']);

    const list = doc.paths['/api/runs'].get;
    expect(
      list.parameters.map(
        (p: { name: string; in: string }) => `${p.in}:${p.name}`
      )
    ).toEqual([
      'query:flowId',
      'query:state',
      'query:idPrefix',
      'query:trigger',
      'query:from',
      'query:to',
      'query:limit',
      'query:cursor'
    ]);
    const run = doc.paths['/api/runs/{runId}'].get;
    expect(run.parameters).toEqual([
      { name: 'runId', in: 'path', required: true, schema: expect.any(Object) }
    ]);
    // Nullable columns in the 3.0 dialect.
    const endedAt =
      run.responses['200'].content['application/json'].schema.properties.run
        .properties.endedAt;
    expect(endedAt).toEqual({
      type: 'string',
      format: 'date-time',
      nullable: true
    });
    expect(typeMembers(doc).filter(t => typeof t !== 'string')).toEqual([]);

    expect(doc.paths['/api/health'].get.security).toEqual([]);
    expect(doc.paths['/api/me'].get.security).toBeUndefined();
    expect(doc.paths['/api/flows/{flowId}'].delete.responses['204']).toEqual({
      description: 'No content'
    });
  });
});

describe('without a store', () => {
  it('serves health and the document, and 503 elsewhere', async () => {
    const bare = await buildServer();
    try {
      expect(
        (await bare.inject({ method: 'GET', url: '/api/health' })).statusCode
      ).toBe(200);
      expect(
        (await bare.inject({ method: 'GET', url: '/api/openapi.json' }))
          .statusCode
      ).toBe(200);
      const me = await bare.inject({ method: 'GET', url: '/api/me' });
      expect(me.statusCode).toBe(503);
      expect(me.json().error).toBe('unavailable');
    } finally {
      await bare.close();
    }
  });
});
