/**
 * GET /api/events: the workspace's events, as a Server-Sent Events stream when the client accepts
 * `text/event-stream` (a browser reads it with fetch, which can send the Authorization header that
 * EventSource cannot), else as one JSON page. Resume with `Last-Event-ID` or `?after=`.
 */
import type { FastifyInstance } from 'fastify';

import { EventStream } from '../events/sse.js';
import { principalOf } from './auth.js';
import type { ApiContext } from './context.js';
import { badRequest, notFound } from './errors.js';
import { MAX_EVENT_ID, errorResponses, eventSchema } from './schemas.js';

interface EventsQuery {
  flowId?: string;
  runId?: string;
  after?: number;
  limit?: number;
}

function lastEventId(
  header: string | string[] | undefined
): number | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  // An empty header (some clients send one before the first event) is no header.
  if (text === undefined || text.trim() === '') {
    return undefined;
  }
  if (!/^\d{1,15}$/.test(text.trim())) {
    throw badRequest(
      `header "Last-Event-ID" must be an event id (a whole number), got ${JSON.stringify(text)}`,
      'Last-Event-ID'
    );
  }
  return Number(text);
}

export function registerEventRoutes(
  app: FastifyInstance,
  ctx: ApiContext
): void {
  const { store, hub } = ctx;
  const streams = new Set<EventStream>();
  // Open streams would keep app.close() waiting forever: end them first; clients resume from their last id.
  app.addHook('preClose', async () => {
    for (const stream of [...streams]) {
      stream.close();
    }
  });

  app.get(
    '/api/events',
    {
      schema: {
        summary:
          'Events after an id: a live text/event-stream (Accept: text/event-stream), else one JSON page',
        querystring: {
          type: 'object',
          properties: {
            flowId: { type: 'string', minLength: 1 },
            runId: { type: 'string', minLength: 1 },
            after: { type: 'integer', minimum: 0, maximum: MAX_EVENT_ID },
            limit: { type: 'integer', minimum: 1, maximum: 1000 }
          },
          additionalProperties: false
        },
        headers: {
          type: 'object',
          properties: { 'last-event-id': { type: 'string' } }
        },
        response: {
          200: {
            type: 'object',
            properties: {
              events: { type: 'array', items: eventSchema },
              lastId: { type: 'integer' }
            },
            required: ['events', 'lastId']
          },
          ...errorResponses
        }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const query = request.query as EventsQuery;
      const afterId =
        lastEventId(request.headers['last-event-id']) ?? query.after ?? 0;
      if (query.flowId && !(await store.getFlow(workspace.id, query.flowId))) {
        throw notFound(`Flow ${query.flowId} not found`);
      }
      if (query.runId && !(await store.getRun(workspace.id, query.runId))) {
        throw notFound(`Run ${query.runId} not found`);
      }
      const accept = request.headers.accept ?? '';
      if (!accept.includes('text/event-stream')) {
        const events = await store.listEvents({
          workspaceId: workspace.id,
          flowId: query.flowId,
          flowRunId: query.runId,
          afterId,
          limit: query.limit
        });
        return {
          events,
          lastId: events.length ? events[events.length - 1].id : afterId
        };
      }
      reply.hijack();
      // Hijacked replies skip Fastify's header writing: send the CORS headers the hooks set ourselves.
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined) {
          reply.raw.setHeader(name, value);
        }
      }
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no'
      });
      reply.raw.flushHeaders();
      const stream = new EventStream(reply.raw, {
        store,
        hub,
        workspaceId: workspace.id,
        flowId: query.flowId,
        flowRunId: query.runId,
        afterId,
        heartbeatMs: ctx.heartbeatMs,
        onClose: () => streams.delete(stream)
      });
      streams.add(stream);
    }
  );
}
