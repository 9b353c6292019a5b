/**
 * GET /api/openapi.json: an OpenAPI 3.0 document built from the schemas the routes were registered
 * with, so the document cannot drift from what the server validates and returns.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';

import { VERSION } from '../version.js';

declare module 'fastify' {
  interface FastifySchema {
    /** One line for the OpenAPI document. */
    summary?: string;
    /** Left out of the OpenAPI document. */
    hide?: boolean;
  }
}

interface CollectedRoute {
  method: string;
  url: string;
  schema: Record<string, unknown>;
  public: boolean;
}

type JsonSchema = Record<string, unknown>;

/** Starts recording routes; call before any route of the API is registered. */
export function collectRoutes(app: FastifyInstance): CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!route.url.startsWith('/api/')) {
      return;
    }
    if ((route.schema as { hide?: boolean } | undefined)?.hide) {
      return;
    }
    for (const method of methods) {
      // HEAD twins of GET routes and CORS preflights are not part of the API.
      if (method === 'HEAD' || method === 'OPTIONS') {
        continue;
      }
      routes.push({
        method: method.toLowerCase(),
        url: route.url,
        schema: (route.schema ?? {}) as Record<string, unknown>,
        public: route.config?.public === true
      });
    }
  });
  return routes;
}

/**
 * The routes' schemas are JSON Schema draft 7 (what Ajv validates with); the document is OpenAPI
 * 3.0.3, whose schema dialect differs. 3.0 rather than 3.1 because it is what most tools (code
 * generators, Schemathesis, validators) read best, and the document has always said 3.0.3; so the
 * draft-7 spellings are converted here, recursively:
 * - `type: [a, 'null']` and `anyOf: [X, {type: 'null'}]` become `nullable: true`;
 * - a number `exclusiveMinimum: n` becomes `minimum: n, exclusiveMinimum: true` (and likewise for
 *   the maximum).
 */
export function toOpenApiSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) {
    return schema.map(toOpenApiSchema);
  }
  if (!schema || typeof schema !== 'object') {
    return schema;
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema as JsonSchema)) {
    if (key === 'type' && Array.isArray(value)) {
      const types = value.filter(t => t !== 'null');
      if (types.length === 1) {
        out.type = types[0];
      } else {
        out.anyOf = types.map(t => ({ type: t }));
      }
      if (types.length < value.length) {
        out.nullable = true;
      }
    } else if (
      (key === 'exclusiveMinimum' || key === 'exclusiveMaximum') &&
      typeof value === 'number'
    ) {
      out[key === 'exclusiveMinimum' ? 'minimum' : 'maximum'] = value;
      out[key] = true;
    } else if ((key === 'anyOf' || key === 'oneOf') && Array.isArray(value)) {
      const isNull = (s: unknown) =>
        !!s && typeof s === 'object' && (s as JsonSchema).type === 'null';
      const rest = value.filter(s => !isNull(s)).map(toOpenApiSchema);
      if (rest.length < value.length) {
        out.nullable = true;
      }
      if (rest.length === 1 && rest[0] && typeof rest[0] === 'object') {
        Object.assign(out, rest[0]);
      } else {
        out[key] = rest;
      }
    } else if (key === 'properties' && value && typeof value === 'object') {
      out.properties = Object.fromEntries(
        Object.entries(value as JsonSchema).map(([k, v]) => [
          k,
          toOpenApiSchema(v)
        ])
      );
    } else if (typeof value === 'object' && value !== null) {
      out[key] = toOpenApiSchema(value);
    } else {
      out[key] = value;
    }
  }
  if (out.type === 'null') {
    // Only a 204's empty body uses this; OpenAPI describes that as no content.
    return undefined;
  }
  return out;
}

function parameters(where: 'path' | 'query' | 'header', schema: unknown) {
  const s = schema as JsonSchema | undefined;
  const properties = (s?.properties ?? {}) as JsonSchema;
  const required = new Set((s?.required as string[] | undefined) ?? []);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: toOpenApiSchema(property)
  }));
}

export function openApiDocument(
  routes: CollectedRoute[],
  /** `--public-url`: listed as the document's server, so generated clients call it. */
  publicUrl: string | null = null
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const { schema } = route;
    const operation: Record<string, unknown> = {
      summary: schema.summary ?? `${route.method.toUpperCase()} ${path}`,
      parameters: [
        ...parameters('path', schema.params),
        ...parameters('query', schema.querystring),
        ...parameters('header', schema.headers)
      ],
      responses: Object.fromEntries(
        Object.entries((schema.response ?? { 200: {} }) as JsonSchema).map(
          ([status, body]) => {
            const byType = (body as JsonSchema | undefined)?.content;
            if (byType && typeof byType === 'object') {
              // Fastify's per-media-type form, `{content: {type: {schema}}}`: a body that is not JSON.
              return [
                status,
                {
                  description: Number(status) < 400 ? 'Success' : 'Error',
                  content: Object.fromEntries(
                    Object.entries(byType as JsonSchema).map(
                      ([type, media]) => [
                        type,
                        {
                          schema: toOpenApiSchema((media as JsonSchema).schema)
                        }
                      ]
                    )
                  )
                }
              ];
            }
            const converted = toOpenApiSchema(body);
            return [
              status,
              converted === undefined
                ? { description: 'No content' }
                : {
                    description: Number(status) < 400 ? 'Success' : 'Error',
                    content: { 'application/json': { schema: converted } }
                  }
            ];
          }
        )
      )
    };
    if (schema.body) {
      const bodyType = (schema.body as JsonSchema).type;
      operation.requestBody = {
        // A body schema that admits null (`type: ['object', 'null']`) is one the route takes without a body.
        required: !(Array.isArray(bodyType) && bodyType.includes('null')),
        content: {
          'application/json': { schema: toOpenApiSchema(schema.body) }
        }
      };
    }
    if (route.public) {
      operation.security = [];
    }
    paths[path] = { ...(paths[path] ?? {}), [route.method]: operation };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Cellflow server',
      version: VERSION,
      description: 'Deploy notebook flows, run them, and follow their events.'
    },
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'A Cellflow API key (cf_...)'
        }
      }
    },
    security: [{ apiKey: [] }],
    ...(publicUrl ? { servers: [{ url: publicUrl }] } : {}),
    paths
  };
}

export function registerOpenApiRoute(
  app: FastifyInstance,
  routes: CollectedRoute[],
  publicUrl: string | null = null
): void {
  app.get(
    '/api/openapi.json',
    {
      config: { public: true },
      schema: { summary: 'This OpenAPI document' }
    },
    async () => openApiDocument(routes, publicUrl)
  );
}
